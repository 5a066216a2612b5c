#!/usr/bin/env bun
/**
 * The single coffee executable: `coffee --role <role>` (or ROLE=<role>) runs a role,
 * `coffee <tool>` runs a tool (the list is TOOL_ENTRIES in src/commandRegistry.ts).
 */
// First, so that a re-execution (allocator settings) happens before most of the program loads.
import "./processTuning.ts";
import type { Command } from "./command.ts";
import { loadAll, ROLE_ENTRIES, TOOL_ENTRIES, type CommandEntry } from "./commandRegistry.ts";
import { CoffeeError, codedMessage, exitCodeOf } from "./errors.ts";
import { parseOptions, renderHelp, renderOptionRows, type OptionSpec, type OptionValues } from "./options.ts";
import { unknownEnvWarnings } from "./knownEnv.ts";
import { PARENT_PID_ENV, watchParentFromEnv } from "./parentWatch.ts";
// JSON has no named exports to import; bundled into the executable, so --version needs no file.
import packageJson from "../package.json" with { type: "json" };

/** This build's version, package.json's. */
const packageVersion: string = packageJson.version;

/** One line of the top-level help: name and the first sentence of the description. */
function summaryLine(c: Command): string {
  const first = c.description.replace(/\s*\n\s*/g, " ").split(/(?<=\.)\s/)[0] ?? "";
  return `  ${c.name.padEnd(12)} ${first}`;
}

/**
 * Every command's options with their defaults, as its own --help lists them: the `common`
 * options the roles share once, then each command's others.
 */
function optionSections(roles: readonly Command[], tools: readonly Command[], common: readonly OptionSpec[]): string {
  const sharedBy = roles.filter((r) => common.every((o) => r.options.includes(o)));
  const own = (c: Command): readonly OptionSpec[] => (sharedBy.includes(c) ? c.options.filter((o) => !common.includes(o)) : c.options);
  const section = (title: string, specs: readonly OptionSpec[]): string => `${title}\n${specs.length ? renderOptionRows(specs).join("\n") : "  (none)"}`;
  return [
    section(`Options of ${sharedBy.map((r) => r.name).join(", ")}:`, common),
    ...roles.map((r) => section(`coffee --role ${r.name}${sharedBy.includes(r) ? ", besides those" : ""}:`, own(r))),
    ...tools.map((t) => section(`coffee ${t.name}:`, t.options)),
  ].join("\n\n");
}

/** The top-level help: loads every command for its summary line and its options. */
async function topHelp(): Promise<string> {
  const [roles, tools] = await Promise.all([loadAll(ROLE_ENTRIES), loadAll(TOOL_ENTRIES)]);
  // Loaded here, not at the top: every process runs main.ts, and the role runtime pulls in the
  // broker client and metrics, which a client or a tool never needs (src/commandRegistry.ts).
  const { COMMON_OPTIONS } = await import("./roleRuntime.ts");
  return `coffee: a distributed, fault-tolerant analytics engine for the coffee-shop dataset.

Usage:
  coffee --role ROLE [options]     run a role (or set ROLE=<role> in the environment)
  coffee TOOL [options]            run a tool
  coffee [--role ROLE | TOOL] --help
  coffee --version

Roles:
${roles.map(summaryLine).join("\n")}

Tools:
${tools.map(summaryLine).join("\n")}

Environment: AMQP_URL or AMQP_URL_FILE (broker, default amqp://guest:***@127.0.0.1:5672; amqps:// for TLS,
AMQP_CA_FILE to trust a private CA), COFFEE_NAMESPACE (queue prefix). Secrets are never flags.
Every option below can also be set by the environment variable shown with it.

${optionSections(roles, tools, COMMON_OPTIONS)}
`;
}

/** What to say when argv names no role or tool: a role given as a tool gets its --role spelling. */
function noCommand(first: string | undefined): string {
  const tools = TOOL_ENTRIES.map((t) => t.name).join(", ");
  if (first === undefined || first.startsWith("-")) return `no role or tool given: --role ${ROLE_ENTRIES.map((r) => r.name).join("|")}, or one of ${tools} (see coffee --help)`;
  if (ROLE_ENTRIES.some((r) => r.name === first)) return `"${first}" is a role: coffee --role ${first} ... (see coffee --role ${first} --help)`;
  return `unknown tool "${first}" (tools: ${tools}; roles go with --role)`;
}

/** Pick the command from argv/env; returns it with the remaining arguments. */
function resolve(argv: string[], env: Record<string, string | undefined>): { command: CommandEntry | null; rest: string[] } {
  const first = argv[0];
  const tool = TOOL_ENTRIES.find((t) => t.name === first);
  if (tool) return { command: tool, rest: argv.slice(1) };
  const rest = [...argv];
  let role = env.ROLE;
  const i = rest.findIndex((a) => a === "--role" || a.startsWith("--role="));
  if (i >= 0) {
    const arg = rest[i]!;
    if (arg.includes("=")) { role = arg.slice("--role=".length); rest.splice(i, 1); }
    else { role = rest[i + 1]; rest.splice(i, 2); }
    if (role === undefined || role === "" || role.startsWith("-")) throw new CoffeeError("CONFIG_INVALID", `--role needs a value (roles: ${ROLE_ENTRIES.map((r) => r.name).join(", ")})`);
  }
  if (role === undefined || role === "") return { command: null, rest };
  const command = ROLE_ENTRIES.find((r) => r.name === role);
  if (!command) throw new CoffeeError("CONFIG_INVALID", `unknown role "${role}" (roles: ${ROLE_ENTRIES.map((r) => r.name).join(", ")})`);
  return { command, rest };
}

/**
 * Parse a full command line (argv + env) exactly as the executable does, without running it:
 * the command and its validated option values. Throws CoffeeError (CONFIG_INVALID) when refused.
 */
export async function parseInvocation(argv: string[], env: Record<string, string | undefined>): Promise<{ command: Command; values: OptionValues }> {
  const { command: entry, rest } = resolve(argv, env);
  if (!entry) throw new CoffeeError("CONFIG_INVALID", "no role or tool given (see coffee --help)");
  const command = await entry.load();
  return { command, values: parseOptions(command.options, rest, env) };
}

/** Entry point; resolves to the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  try {
    // Before the role: an image with ROLE set must still say what it is.
    if (argv.length === 1 && argv[0] === "--version") {
      process.stdout.write(`coffee ${packageVersion} (Bun ${Bun.version})\n`);
      return 0;
    }
    const { command: entry, rest } = resolve(argv, env);
    if (!entry) {
      const wantsHelp = rest.includes("--help") || rest.includes("-h") || rest.length === 0;
      if (wantsHelp) {
        process.stdout.write(await topHelp());
        return 0;
      }
      process.stderr.write(`coffee: CONFIG_INVALID: ${noCommand(rest[0])}\n`);
      return 2;
    }
    const command = await entry.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(renderHelp(command.usage, command.description, command.options));
      return 0;
    }
    const values = parseOptions(command.options, rest, env);
    // Once per environment: coffee up's children inherit the one it already checked.
    if (env[PARENT_PID_ENV] === undefined) for (const line of unknownEnvWarnings(env)) process.stderr.write(line);
    return await command.run(values);
  } catch (err) {
    process.stderr.write(`coffee: ${codedMessage(err)}\n`);
    return exitCodeOf(err);
  }
}

/**
 * Resolves once stdout has handed everything written to it to the OS, or after `limitMs`.
 * process.exit drops what a pipe has not taken yet: `coffee chaos` under `bun test` lost its
 * summary line, the last of ~70 KB. (Logs go to stderr, which stays open for late lines.)
 */
function stdoutFlushed(limitMs: number): Promise<void> {
  return Promise.race([new Promise<void>((resolve) => process.stdout.end(() => resolve())), Bun.sleep(limitMs)]);
}

/**
 * What to do with an error of stdout: a reader that went away (`coffee ... | head`) leaves
 * output nobody wants, which is not the run's failure, so EPIPE is dropped; anything else is
 * raised. Left unhandled, the EPIPE crashed the process with a stack trace and exit 1 after a
 * run that had succeeded.
 */
export function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== "EPIPE") throw err;
}

if (import.meta.main) {
  process.stdout.on("error", onStdoutError);
  // Orphaned by a parent coffee process that died: stop the way a SIGTERM stops us.
  watchParentFromEnv(process.env, (parentPid) => {
    process.stderr.write(`coffee: parent process ${parentPid} is gone; stopping\n`);
    process.kill(process.pid, "SIGTERM");
  });
  const code = await main(process.argv.slice(2));
  await stdoutFlushed(10_000);
  process.exit(code);
}
