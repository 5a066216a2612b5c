/**
 * The bench scripts' command lines: `--help` prints the script's own doc comment (its usage and
 * what it measures), and an option it does not know, or one without its value, is one line and
 * exit 2, where node:util's parseArgs left a stack trace.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";

/** A bench script's options, as node:util's parseArgs takes them: every one is a string. */
export type BenchOptions = Record<string, { type: "string"; default?: string }>;

/** The values of `O`: a string where a default is given, else a string or undefined. */
export type BenchValues<O extends BenchOptions> = { [K in keyof O]: O[K] extends { default: string } ? string : string | undefined };

/** What a command line asks for: to run with these values, to see the help, or nothing it can do. */
export type BenchArgs<O extends BenchOptions> =
  | { type: "values"; values: BenchValues<O> }
  | { type: "help"; text: string }
  | { type: "error"; message: string };

/** The doc comment `source` starts with, without its markers; empty when it has none. */
export function docCommentOf(source: string): string {
  const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return "";
  return `${m[1]!.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim()}\n`;
}

/** Read `argv` (without the runtime and script) against `options`; `script` names the script in messages, `help` is its text. */
export function readBenchArgs<O extends BenchOptions>(argv: readonly string[], options: O, script: string, help: string): BenchArgs<O> {
  if (argv.includes("--help") || argv.includes("-h")) return { type: "help", text: help };
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    // The same object: parseArgs's own type for a generic O is a conditional type TypeScript
    // cannot relate to BenchValues, though for string options with or without defaults they agree.
    return { type: "values", values: values as unknown as BenchValues<O> };
  } catch (err) {
    return { type: "error", message: `${script}: ${(err as Error).message} (--help lists its options)` };
  }
}

/** The options of the script at `scriptPath` (import.meta.path) from this process's command line; prints the help and exits 0, or the error and exits 2. */
export function benchArgs<O extends BenchOptions>(scriptPath: string, options: O): BenchValues<O> {
  const read = readBenchArgs(process.argv.slice(2), options, basename(scriptPath, ".ts"), docCommentOf(readFileSync(scriptPath, "utf8")));
  if (read.type === "values") return read.values;
  if (read.type === "help") {
    process.stdout.write(read.text);
    process.exit(0);
  }
  process.stderr.write(`${read.message}\n`);
  process.exit(2);
}
