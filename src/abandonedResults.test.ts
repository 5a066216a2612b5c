import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ABANDONED_MIN_AGE_MS, removeAbandonedResults } from "./abandonedResults.ts";
import { ResultFiles } from "./resultFiles.ts";

let out = "";
afterEach(() => rmSync(out, { recursive: true, force: true }));
/** A time at which every folder made by the test is old enough to be taken for left behind. */
const later = (): number => Date.now() + ABANDONED_MIN_AGE_MS + 1000;

test("a killed client's folder is removed; a live client's, in another process, is kept until it dies", async () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  const writer = Bun.spawn(["bun", "-e", `
    const { ResultFiles } = await import(${JSON.stringify(join(import.meta.dir, "resultFiles.ts"))});
    const files = new ResultFiles(${JSON.stringify(out)}, "live");
    files.add("q1", 0, false, "transaction_id,final_amount\\n");
    console.log("ready");
    setInterval(() => {}, 1000);
  `], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = writer.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("ready");
    expect(removeAbandonedResults(out, later())).toEqual([]);
    expect(readdirSync(join(out, "session_live")).sort()).toEqual(["query1.csv.part", "query2.csv.part", "query3.csv.part", "query4.csv.part"]);
  } finally {
    writer.kill("SIGKILL");
    await writer.exited;
  }
  expect(removeAbandonedResults(out, later())).toEqual([join(out, "session_live")]);
  expect(readdirSync(out)).toEqual([]);
});

test("a folder written by this process is kept while its files are open, and one just made is kept", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  const files = new ResultFiles(out, "mine");
  // flock belongs to an open of the folder, not to a process: this process's own sweep sees it held.
  expect(removeAbandonedResults(out, later())).toEqual([]);
  files.close();
  expect(removeAbandonedResults(out, Date.now())).toEqual([]);
  expect(removeAbandonedResults(out, later())).toEqual([join(out, "session_mine")]);
});

test("complete results, other files and other folders are never removed", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  const done = new ResultFiles(out, "done");
  for (const q of ["q1", "q2", "q3", "q4"] as const) done.add(q, 0, true, "x\n");
  done.commit();
  done.close();
  // A client killed between two renames: some files complete, which nobody may throw away.
  mkdirSync(join(out, "session_halfway"));
  writeFileSync(join(out, "session_halfway", "query1.csv"), "x\n");
  writeFileSync(join(out, "session_halfway", "query2.csv.part"), "x\n");
  mkdirSync(join(out, "session_notes"));
  writeFileSync(join(out, "session_notes", "query1.csv.part"), "x\n");
  writeFileSync(join(out, "session_notes", "README"), "kept by a user\n");
  mkdirSync(join(out, "other"));
  writeFileSync(join(out, "other", "query1.csv.part"), "x\n");
  writeFileSync(join(out, "session_file"), "not a folder\n");
  expect(removeAbandonedResults(out, later())).toEqual([]);
  expect(readdirSync(out).sort()).toEqual(["other", "session_done", "session_file", "session_halfway", "session_notes"]);
  expect(existsSync(join(out, "session_done", "query4.csv"))).toBe(true);
});

test("an --out folder that does not exist yet has nothing to remove", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  expect(removeAbandonedResults(join(out, "missing"), later())).toEqual([]);
});

test("a folder whose files still change is kept, unlocked or not, and a link to a folder is never followed", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  // A writer without the lock (a client before it): the folder's own time is old, its file's new.
  mkdirSync(join(out, "session_old-client"));
  writeFileSync(join(out, "session_old-client", "query1.csv.part"), "x\n");
  const old = (Date.now() - 2 * ABANDONED_MIN_AGE_MS) / 1000;
  utimesSync(join(out, "session_old-client"), old, old);
  expect(removeAbandonedResults(out, Date.now())).toEqual([]);
  // A link named like a session folder, to a folder outside --out holding .part files.
  const elsewhere = mkdtempSync(join(tmpdir(), "coffee-elsewhere-"));
  try {
    writeFileSync(join(elsewhere, "query1.csv.part"), "x\n");
    symlinkSync(elsewhere, join(out, "session_link"));
    expect(removeAbandonedResults(out, later())).toEqual([join(out, "session_old-client")]);
    expect(readdirSync(elsewhere)).toEqual(["query1.csv.part"]);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
