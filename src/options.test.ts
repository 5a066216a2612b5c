import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { parseOptions, renderHelp, type OptionSpec } from "./options.ts";
import { redactIn, redactUrl } from "./redact.ts";

const SPECS: OptionSpec[] = [
  { name: "amqp-url", type: "string", env: "AMQP_URL", default: "amqp://guest:guest@h:5672", secret: true, help: "broker" },
  { name: "port", type: "int", env: "PORT", default: 9000, min: 1, max: 65535, help: "port" },
];

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
};

describe("empty values", () => {
  const specs: OptionSpec[] = [
    { name: "namespace", type: "string", env: "NS", default: "coffee", help: "prefix" },
    { name: "replicas", type: "string", env: "REPLICAS", default: "", help: "counts" },
    { name: "data", type: "string", env: "DATA", help: "folders" },
  ];
  test("an empty variable is unset; an empty flag is an error unless empty is the default", () => {
    expect(parseOptions(specs, [], { NS: "" }).namespace).toBe("coffee");
    expect(configError(() => parseOptions(specs, ["--namespace", ""], {})).message).toBe('--namespace is empty; leave it out for the default ("coffee")');
    expect(parseOptions(specs, ["--replicas="], {}).replicas).toBe("");
    expect(configError(() => parseOptions(specs, ["--data", ""], {})).message).toBe("--data is empty; leave it out for none");
    expect(parseOptions(specs, [], { DATA: "" }).data).toBeUndefined();
  });
});

describe("secret options", () => {
  test("are refused as flags, with a message naming the env variable and the file option", () => {
    const err = configError(() => parseOptions(SPECS, ["--amqp-url", "amqp://u:p@h"], {}));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain("AMQP_URL");
    expect(err.message).toContain("--amqp-url-file");
    expect(err.message).not.toContain("u:p");
  });

  test("come from the env variable, else the default", () => {
    expect(parseOptions(SPECS, [], { AMQP_URL: "amqp://u:p@h" })["amqp-url"]).toBe("amqp://u:p@h");
    expect(parseOptions(SPECS, [], {})["amqp-url"]).toBe("amqp://guest:guest@h:5672");
  });

  test("come from the first line of a file named by --NAME-file or ENV_FILE", () => {
    const dir = mkdtempSync(join(tmpdir(), "coffee-opt-"));
    try {
      const file = join(dir, "url");
      writeFileSync(file, "amqps://u:s3cret@h:5671\n# comment lines after the first are ignored\n");
      expect(parseOptions(SPECS, ["--amqp-url-file", file], {})["amqp-url"]).toBe("amqps://u:s3cret@h:5671");
      expect(parseOptions(SPECS, [], { AMQP_URL_FILE: file })["amqp-url"]).toBe("amqps://u:s3cret@h:5671");
      // Two sources at once is ambiguous: an error, not a silent precedence.
      expect(configError(() => parseOptions(SPECS, [], { AMQP_URL_FILE: file, AMQP_URL: "amqp://x" })).message).toContain("both set");
      writeFileSync(file, "\n");
      expect(configError(() => parseOptions(SPECS, ["--amqp-url-file", file], {})).message).toContain("is empty");
      expect(configError(() => parseOptions(SPECS, ["--amqp-url-file", join(dir, "missing")], {})).message).toContain("ENOENT");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("help names every option's default, or says it is required or has none", () => {
    const extra: OptionSpec[] = [{ name: "stage", type: "string", help: "a stage" }, { name: "peer-port", type: "int", default: 0, help: "p", defaultText: "the peer's own" }];
    const rows = renderHelp("coffee x", "d", [...SPECS, ...extra]).split("\n").filter((l) => l.startsWith("  --") && !l.startsWith("  --help"));
    expect(rows.length).toBe(SPECS.length + 2);
    for (const row of rows) expect(row).toMatch(/\[.*(default[ :]|required)/);
    expect(rows.at(-2)).toContain("[default none]");
    expect(rows.at(-1)).toContain("[default: the peer's own]");
  });

  test("help shows the file flag, never the flag itself, and a redacted default", () => {
    const help = renderHelp("coffee x", "d", SPECS);
    expect(help).toContain("--amqp-url-file PATH");
    expect(help).not.toMatch(/--amqp-url VALUE/);
    expect(help).toContain("amqp://guest:***@h:5672");
    expect(help).not.toContain("guest:guest");
  });
});

describe("redaction", () => {
  test("redactUrl hides the password; redactIn hides it inside any text", () => {
    expect(redactUrl("amqps://app:pa%40ss@h:5671/v")).toBe("amqps://app:***@h:5671/v");
    expect(redactIn("login as app:pa%40ss / pa@ss refused", "amqps://app:pa%40ss@h")).toBe("login as app:*** / *** refused");
    expect(redactIn("no password here", "amqp://h")).toBe("no password here");
    // A password with @ in it: the driver splits at the last @, so must the redaction.
    expect(redactUrl("amqps://app:Xy@9secret@rabbit:5671")).toBe("amqps://app:***@rabbit:5671");
    expect(redactIn("auth as app / Xy@9secret failed", "amqps://app:Xy@9secret@rabbit")).toBe("auth as app / *** failed");
    expect(redactUrl("amqp://rabbit:5672/vhost")).toBe("amqp://rabbit:5672/vhost");
    expect(redactUrl("amqp://app:secret@rabbit:5672, ")).toBe("amqp://app:***@rabbit:5672");
    expect(redactUrl("amqp://user@rabbit")).toBe("amqp://user@rabbit");
  });

  test("a short password is hidden where it stands alone, not inside the words around it", () => {
    const url = "amqp://app:E@rabbit";
    expect(redactIn("ACCESS_REFUSED - Login was refused", url)).toBe("ACCESS_REFUSED - Login was refused");
    expect(redactIn("amqp://app:E@rabbit refused E", url)).toBe("amqp://app:***@rabbit refused ***");
    expect(redactIn("pw=ab1; ab12 ab1", "amqp://u:ab1@h")).toBe("pw=***; ab12 ***");
    expect(redactIn("NOT_FOUND - no queue; café", "amqp://u:NOT@h")).toBe("NOT_FOUND - no queue; café");
    expect(redactIn("café", "amqp://u:%C3%A9@h")).toBe("café");
    // Whole characters, not UTF-16 halves; a combining accent belongs to its word.
    expect(redactIn("x\u{1D400}ab\u{1D400} ab", "amqp://u:ab@h")).toBe("x\u{1D400}ab\u{1D400} ***");
    expect(redactIn("cafe\u0301 cafe", "amqp://u:cafe@h")).toBe("cafe\u0301 ***");
    // One made of punctuation has no word to be part of.
    expect(redactIn("x%%y %%", "amqp://u:%25%25@h")).toBe("x***y ***");
    // From six characters on, every occurrence goes, even inside a word.
    expect(redactIn("xsecret1x", "amqp://u:secret1@h")).toBe("x***x");
  });

  test("a list of nodes (AMQP_URL naming a RabbitMQ cluster) has every node's password hidden", () => {
    const url = "amqp://app:one@rabbit-1:5672,amqps://app:t@wo@rabbit-2:5671";
    expect(redactUrl(url)).toBe("amqp://app:***@rabbit-1:5672,amqps://app:***@rabbit-2:5671");
    expect(redactIn("one refused, then t@wo refused", url)).toBe("*** refused, then *** refused");
  });
});
