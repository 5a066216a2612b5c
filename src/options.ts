/**
 * Declarative command-line options: every role and tool lists its options once (flag, env
 * variable, default, range, help) and gets parsing, validation and `--help` from here.
 */
import { ConfigError } from "./errors.ts";

/** One option: `--name value` on the command line, or `env` in the environment. */
export interface OptionSpec {
  name: string;
  type: "string" | "int" | "bool" | "enum";
  help: string;
  env?: string;
  default?: string | number | boolean;
  required?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

/** Parsed option values by option name; absent optional options without default are missing. */
export type OptionValues = Record<string, string | number | boolean | undefined>;

/**
 * Parse `argv` (flags only; `--help` is handled by the caller) against `specs`, falling back to
 * the environment and then to defaults. Throws ConfigError naming the bad option.
 */
export function parseOptions(specs: readonly OptionSpec[], argv: readonly string[], env: Record<string, string | undefined> = process.env): OptionValues {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (options look like --name value)`);
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) throw new ConfigError(`unknown option --${name} (see --help)`);
    if (eq >= 0) given.set(name, arg.slice(eq + 1));
    else if (spec.type === "bool" && (argv[i + 1] === undefined || argv[i + 1]!.startsWith("--"))) given.set(name, "true");
    else {
      const value = argv[++i];
      if (value === undefined) throw new ConfigError(`option --${name} needs a value`);
      given.set(name, value);
    }
  }
  const out: OptionValues = {};
  for (const spec of specs) {
    const raw = given.get(spec.name) ?? (spec.env ? env[spec.env] : undefined);
    const source = given.has(spec.name) ? `--${spec.name}` : `${spec.env}`;
    if (raw === undefined || raw === "") {
      if (spec.required) throw new ConfigError(`option --${spec.name} is required${spec.env ? ` (or ${spec.env})` : ""}`);
      out[spec.name] = spec.default;
      continue;
    }
    out[spec.name] = convert(spec, raw, source);
  }
  return out;
}

function convert(spec: OptionSpec, raw: string, source: string): string | number | boolean {
  switch (spec.type) {
    case "string":
      return raw;
    case "bool":
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${source} must be true or false, got "${raw}"`);
    case "enum":
      if (!spec.choices?.includes(raw)) throw new ConfigError(`${source} must be one of ${spec.choices?.join(", ")}, got "${raw}"`);
      return raw;
    case "int": {
      if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${source} must be an integer, got "${raw}"`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${source} must be >= ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${source} must be <= ${spec.max}, got ${n}`);
      return n;
    }
  }
}

/** The `--help` text: usage line, description, then every option with its env and default. */
export function renderHelp(usage: string, description: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag = `--${s.name}${s.type === "bool" ? "" : s.type === "int" ? " N" : s.choices ? ` ${s.choices.join("|")}` : " VALUE"}`;
    const extras = [
      s.env ? `env ${s.env}` : "",
      s.required ? "required" : s.default !== undefined ? `default ${JSON.stringify(s.default)}` : "",
      s.min !== undefined || s.max !== undefined ? `range ${s.min ?? ""}..${s.max ?? ""}` : "",
    ].filter(Boolean);
    return `  ${flag.padEnd(34)} ${s.help}${extras.length ? ` [${extras.join("; ")}]` : ""}`;
  });
  return `Usage: ${usage}\n\n${description}\n\nOptions:\n${rows.join("\n")}\n  --help                             show this help\n`;
}

/** Typed accessors, so roles read options without casts. */
export function str(values: OptionValues, name: string): string {
  const v = values[name];
  if (typeof v !== "string") throw new ConfigError(`option --${name} is required`);
  return v;
}

/** Integer option value (validated by parseOptions). */
export function int(values: OptionValues, name: string): number {
  const v = values[name];
  if (typeof v !== "number") throw new ConfigError(`option --${name} is required`);
  return v;
}

/** Boolean option value; absent means false. */
export function bool(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** Optional string option value. */
export function optStr(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}
