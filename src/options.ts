/**
 * Declarative command-line options: every role and tool lists its options once (flag, env
 * variable, default, range, help) and gets parsing, validation and `--help` from here.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.ts";
import { redactUrl } from "./redact.ts";

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
  /** What leaving the option unset means, when that is not one value (shown as its default in `--help`). */
  defaultText?: string;
  /**
   * A credential: never accepted as a flag (flags show in `ps` and shell history), only from
   * `env` or from a file named by `--NAME-file` / `ENV_FILE` (Docker and Kubernetes secrets).
   */
  secret?: boolean;
}

/** `--amqp-url` → `amqp-url-file`; `AMQP_URL` → `AMQP_URL_FILE`. */
const fileFlag = (spec: OptionSpec): string => `${spec.name}-file`;
const fileEnv = (spec: OptionSpec): string | undefined => (spec.env ? `${spec.env}_FILE` : undefined);

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
    const spec = byName.get(name) ?? secretFileSpec(specs, name);
    if (!spec) throw new ConfigError(`unknown option --${name} (see --help)`);
    if (spec.secret && byName.has(name)) {
      throw new ConfigError(`--${name} is a secret and is not taken as a flag (flags show in ps and shell history): set ${spec.env ?? "its variable"} or put it in a file named by --${fileFlag(spec)}${fileEnv(spec) ? ` / ${fileEnv(spec)}` : ""}`);
    }
    if (eq >= 0) given.set(name, arg.slice(eq + 1));
    else if (spec.type === "bool" && (argv[i + 1] === undefined || argv[i + 1]!.startsWith("--"))) given.set(name, "true");
    else {
      const value = argv[++i];
      if (value === undefined) throw new ConfigError(`option --${name} needs a value`);
      given.set(name, value);
    }
  }
  const out: OptionValues = {};
  const sources = new Map<string, string>();
  // Not enumerable: values are spread and compared whole in many places.
  Object.defineProperty(out, SOURCES, { value: sources, enumerable: false });
  for (const spec of specs) {
    if (spec.secret) {
      const value = readSecret(spec, given.get(fileFlag(spec)), env);
      out[spec.name] = value ?? spec.default;
      if (value === undefined && spec.required) throw new ConfigError(`option ${spec.env ?? spec.name} is required (or a file named by --${fileFlag(spec)})`);
      continue;
    }
    const raw = given.get(spec.name) ?? (spec.env ? env[spec.env] : undefined);
    const source = given.has(spec.name) ? `--${spec.name}` : `${spec.env}`;
    if (raw !== undefined && raw !== "") sources.set(spec.name, source);
    // An empty variable means unset (compose files leave some blank); an empty flag is a mistake
    // (a variable that expanded to nothing) unless empty is the default anyway.
    if (raw === "" && given.has(spec.name) && spec.default !== "") {
      throw new ConfigError(`--${spec.name} is empty; leave it out for ${spec.default === undefined ? "none" : `the default (${JSON.stringify(spec.default)})`}`);
    }
    if (raw === undefined || raw === "") {
      if (spec.required) throw new ConfigError(`option --${spec.name} is required${spec.env ? ` (or ${spec.env})` : ""}`);
      out[spec.name] = spec.default;
      continue;
    }
    out[spec.name] = convert(spec, raw, source);
  }
  return out;
}

/** The secret spec `--NAME-file` stands for, so the parser accepts that flag. */
function secretFileSpec(specs: readonly OptionSpec[], flag: string): OptionSpec | undefined {
  return specs.find((s) => s.secret && fileFlag(s) === flag);
}

/**
 * A secret's value from exactly one place: its env variable, or the first line of the file
 * named by the `-file` flag or the `_FILE` variable. Two places at once is an error rather than
 * a silent precedence, so a stale variable never overrides the mounted secret unnoticed.
 */
function readSecret(spec: OptionSpec, fileFromFlag: string | undefined, env: Record<string, string | undefined>): string | undefined {
  const fromEnv = spec.env ? env[spec.env] : undefined;
  const envFileName = fileEnv(spec);
  const path = fileFromFlag ?? (envFileName ? env[envFileName] : undefined);
  const pathSource = fileFromFlag !== undefined ? `--${fileFlag(spec)}` : `${envFileName}`;
  if (path !== undefined && path !== "" && fromEnv !== undefined && fromEnv !== "") {
    throw new ConfigError(`${spec.env} and ${pathSource} are both set; keep one (they would disagree silently)`);
  }
  if (path === undefined || path === "") return fromEnv === "" ? undefined : fromEnv;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${pathSource}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const value = text.split(/\r?\n/, 1)[0]!.trim();
  if (value === "") throw new ConfigError(`${pathSource}: ${path} is empty; its first line must hold the ${spec.name}`);
  return value;
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

/** One help line per option: flag, help, then its env, default and range. */
export function renderOptionRows(specs: readonly OptionSpec[]): string[] {
  return specs.map((s) => {
    const flag = s.secret ? `--${fileFlag(s)} PATH` : `--${s.name}${s.type === "bool" ? "" : s.type === "int" ? " N" : s.choices ? ` ${s.choices.join("|")}` : " VALUE"}`;
    const shownDefault = s.secret && typeof s.default === "string" ? redactUrl(s.default) : s.default;
    const extras = [
      s.secret ? `secret: env ${s.env} or this file${fileEnv(s) ? ` (env ${fileEnv(s)})` : ""}, never a flag` : s.env ? `env ${s.env}` : "",
      // Every option names its default, as `--help` promises; "none" when absent means unset.
      s.required ? "required" : s.defaultText !== undefined ? `default: ${s.defaultText}` : shownDefault !== undefined ? `default ${JSON.stringify(shownDefault)}` : "default none",
      s.min !== undefined || s.max !== undefined ? `range ${s.min ?? ""}..${s.max ?? ""}` : "",
    ].filter(Boolean);
    return `  ${flag.padEnd(34)} ${s.help}${extras.length ? ` [${extras.join("; ")}]` : ""}`;
  });
}

/** The `--help` text: usage line, description, then every option with its env and default. */
export function renderHelp(usage: string, description: string, specs: readonly OptionSpec[]): string {
  return `Usage: ${usage}\n\n${description}\n\nOptions:\n${renderOptionRows(specs).join("\n")}\n  --help                             show this help\n`;
}

/** Where parseOptions found each value that was given (`--name` or the variable), for messages. */
const SOURCES = Symbol("option sources");

/**
 * How a message should name option `name`: the variable it was read from when it came from the
 * environment (a user who set COFFEE_X looks for COFFEE_X), else its flag.
 */
export function sourceOf(values: OptionValues, name: string): string {
  const sources = (values as { [SOURCES]?: Map<string, string> })[SOURCES];
  return sources?.get(name) ?? `--${name}`;
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
