import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProtocolError } from "./errors.ts";
import { ResultFiles } from "./resultFiles.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("chunks arriving out of order are written in order; files get their names only on commit", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s1");
  files.add("q1", 2, true, "c\n");
  files.add("q1", 0, false, "h\n");
  expect(files.allComplete()).toBe(false);
  files.add("q1", 1, false, "b\n");
  for (const q of ["q2", "q3", "q4"] as const) files.add(q, 0, true, `${q}\n`);
  expect(existsSync(join(files.dir, "query1.csv"))).toBe(false);
  expect(files.allComplete()).toBe(true);
  files.commit();
  expect(readFileSync(join(files.dir, "query1.csv"), "utf8")).toBe("h\nb\nc\n");
  expect(readFileSync(join(files.dir, "query4.csv"), "utf8")).toBe("q4\n");
});

test("a chunk already held is ignored (resent after a resume); commit before completion refuses", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s2");
  expect(files.add("q2", 0, false, "x\n")).toBe(true);
  expect(files.add("q2", 0, false, "x\n")).toBe(false);
  expect(() => files.commit()).toThrow(ProtocolError);
  files.close();
});

test("a second commit (the done handler, then a resume's fallback) is a no-op, not ENOENT", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s3");
  for (const q of ["q1", "q2", "q3", "q4"] as const) expect(files.add(q, 0, true, `${q},é\n`)).toBe(true);
  files.commit();
  files.commit();
  expect(readFileSync(join(files.dir, "query1.csv"), "utf8")).toBe("q1,é\n");
  expect(files.sizes().q1).toBe(Buffer.byteLength("q1,é\n"));
});
