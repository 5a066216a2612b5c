import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeJsonAtomic } from "./atomicFile.ts";
import { CoffeeError } from "./errors.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("writes JSON whole, through a temporary file that does not stay", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-atomic-"));
  writeJsonAtomic(join(dir, "cluster.json"), [{ name: "gateway" }]);
  expect(JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8"))).toEqual([{ name: "gateway" }]);
  expect(readdirSync(dir)).toEqual(["cluster.json"]);
});

test("a write that fails is OUTPUT_FAILED naming the file, and leaves no temporary file", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-atomic-"));
  // The rename fails (a directory is in the way); the temporary file was written by then.
  const path = join(dir, "cluster.json");
  mkdirSync(join(path, "in-the-way"), { recursive: true });
  let err: unknown = null;
  try {
    writeJsonAtomic(path, []);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CoffeeError);
  expect((err as CoffeeError).code).toBe("OUTPUT_FAILED");
  expect((err as CoffeeError).message).toStartWith(`cannot write ${path}: `);
  expect(readdirSync(dir)).toEqual(["cluster.json"]);
});

test("a mode is the file's from its creation, a leftover temporary file's mode notwithstanding", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-atomic-"));
  const path = join(dir, "control.json");
  // A crash left a world-readable temporary file: its mode must not carry over.
  writeFileSync(`${path}.tmp`, "{}", { mode: 0o644 });
  writeJsonAtomic(path, { key: "secret" }, 0o600);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(readdirSync(dir)).toEqual(["control.json"]);
});
