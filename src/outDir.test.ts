import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareOutDir } from "./outDir.ts";
import { ConfigError } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-outdir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the folders a run made are removed again while empty, deepest first; one written into stays, with those above it", () => {
  const out = join(dir, "a", "b", "c");
  const unused = prepareOutDir(out);
  expect(existsSync(out)).toBe(true);
  unused.removeIfUnused();
  expect(existsSync(join(dir, "a"))).toBe(false);
  expect(existsSync(dir)).toBe(true);

  const used = prepareOutDir(out);
  writeFileSync(join(dir, "a", "b", "other-client.csv"), "");
  used.removeIfUnused();
  expect(existsSync(out)).toBe(false);
  expect(existsSync(join(dir, "a", "b"))).toBe(true);
});

test("an existing folder is never removed", () => {
  const out = join(dir, "kept");
  prepareOutDir(out);
  prepareOutDir(out).removeIfUnused();
  expect(existsSync(out)).toBe(true);
});

test("a folder that cannot be written is a ConfigError naming --out", () => {
  const blocker = join(dir, "file");
  writeFileSync(blocker, "");
  expect(() => prepareOutDir(join(blocker, "sub"))).toThrow(ConfigError);
  expect(() => prepareOutDir(join(blocker, "sub"))).toThrow(`--out ${join(blocker, "sub")}: cannot write results there`);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, "locked");
    prepareOutDir(locked);
    chmodSync(locked, 0o500);
    try {
      expect(() => prepareOutDir(locked)).toThrow("cannot write results there");
    } finally {
      chmodSync(locked, 0o700);
    }
  }
});
