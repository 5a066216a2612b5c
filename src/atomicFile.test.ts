import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
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
