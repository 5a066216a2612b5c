import { afterEach, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as durableFs from "./durableFs.ts";
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

test("files closed on failure stay incomplete: no commit, no more chunks", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s4");
  for (const q of ["q1", "q2", "q3"] as const) files.add(q, 0, true, `${q}\n`);
  files.add("q4", 0, false, "h\n");
  files.close();
  expect(files.allComplete()).toBe(false);
  expect(files.missing()).toEqual(["q4"]);
  expect(files.add("q4", 1, true, "x\n")).toBe(false);
  expect(() => files.commit()).toThrow(ProtocolError);
  expect(existsSync(join(files.dir, "query1.csv"))).toBe(false);
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

test("a run given up deletes its partial files and its empty folder; a committed one keeps everything", () => {
  const out = (dir = mkdtempSync(join(tmpdir(), "coffee-rf-")));
  const given = new ResultFiles(out, "given-up");
  given.add("q1", 0, false, "transaction_id,final_amount\n");
  given.discard();
  expect(existsSync(given.dir)).toBe(false);
  const kept = new ResultFiles(out, "kept");
  for (const q of ["q1", "q2", "q3", "q4"] as const) kept.add(q, 0, true, "h\n");
  kept.commit();
  kept.discard();
  expect(readFileSync(join(kept.dir, "query4.csv"), "utf8")).toBe("h\n");
});

test("a place results cannot be written is OUTPUT_FAILED naming it", () => {
  const out = (dir = mkdtempSync(join(tmpdir(), "coffee-rf-")));
  const file = join(out, "not-a-folder");
  writeFileSync(file, "");
  expect(() => new ResultFiles(file, "s")).toThrow(expect.objectContaining({ code: "OUTPUT_FAILED", message: expect.stringContaining(`cannot write results to ${join(file, "session_s")}: ENOTDIR`) }));
});

test("commit makes the session folder's entry durable, and its --out folder's: after bye the gateway keeps no copy", () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "coffee-rf-")));
  const out = join(dir, "new-out");
  const files = new ResultFiles(out, "s9");
  for (const q of ["q1", "q2", "q3", "q4"] as const) files.add(q, 0, true, `${q}\n`);
  const fsync = fs.fsyncSync;
  const synced: string[] = [];
  const spy = spyOn(fs, "fsyncSync").mockImplementation((fd: number) => {
    synced.push(readlinkSync(`/proc/self/fd/${fd}`));
    fsync(fd);
  });
  try {
    files.commit();
  } finally {
    spy.mockRestore();
  }
  expect(synced).toContain(files.dir);
  expect(synced).toContain(out);
  expect(synced).toContain(dir);
});

test("a session's files that cannot all be made leave none behind, nor an open descriptor", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  // query3's name taken by a folder: its open fails after query1's and query2's succeeded.
  fs.mkdirSync(join(dir, "session_s", "query3.csv.part"), { recursive: true });
  const closed = spyOn(fs, "closeSync");
  try {
    expect(() => new ResultFiles(dir, "s")).toThrow(/^cannot write results to .*query3\.csv\.part/);
    // query1's, query2's and the locked folder's.
    expect(closed).toHaveBeenCalledTimes(3);
  } finally {
    closed.mockRestore();
  }
  expect(fs.readdirSync(join(dir, "session_s"))).toEqual(["query3.csv.part"]);
});

test("a commit that fails after some renames, then discard: no file that looks complete stays, nor the folder", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s");
  for (const q of ["q1", "q2", "q3", "q4"] as const) files.add(q, 0, true, `${q}\n`);
  const failing = spyOn(durableFs, "fsyncDirectory").mockImplementation(() => { throw new Error("EIO"); });
  try {
    expect(() => files.commit()).toThrow(/^cannot write results to .*: EIO/);
  } finally {
    failing.mockRestore();
  }
  // Every file was named before the fsync failed: the run failed, so they go.
  files.discard();
  expect(existsSync(files.dir)).toBe(false);
});

test("a marker deleted behind the writer's back does not fail its commit", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-rf-"));
  const files = new ResultFiles(dir, "s");
  for (const q of ["q1", "q2", "q3", "q4"] as const) files.add(q, 0, true, `${q}\n`);
  fs.unlinkSync(join(files.dir, ".writer"));
  files.commit();
  files.close();
  expect(fs.readdirSync(files.dir).sort()).toEqual(["query1.csv", "query2.csv", "query3.csv", "query4.csv"]);
});
