import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeAbandonedResults } from "./abandonedResults.ts";
import { ResultFiles } from "./resultFiles.ts";

let out = "";
afterEach(() => rmSync(out, { recursive: true, force: true }));

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
    expect(removeAbandonedResults(out)).toEqual([]);
    expect(readdirSync(join(out, "session_live")).sort()).toEqual([".writer", "query1.csv.part", "query2.csv.part", "query3.csv.part", "query4.csv.part"]);
  } finally {
    writer.kill("SIGKILL");
    await writer.exited;
  }
  expect(removeAbandonedResults(out)).toEqual([join(out, "session_live")]);
  expect(readdirSync(out)).toEqual([]);
});

test("a folder written by this process is kept while its files are open; a marker not yet named is never taken", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  const files = new ResultFiles(out, "mine");
  // flock belongs to an open of the marker, not to a process: this process's own sweep sees it held.
  expect(removeAbandonedResults(out)).toEqual([]);
  files.close();
  expect(removeAbandonedResults(out)).toEqual([join(out, "session_mine")]);
  // A writer killed between making its marker and naming it (the marker is locked before it is named).
  mkdirSync(join(out, "session_staging"));
  writeFileSync(join(out, "session_staging", ".writer.123"), "");
  writeFileSync(join(out, "session_staging", "query1.csv.part"), "");
  expect(removeAbandonedResults(out)).toEqual([]);
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
  writeFileSync(join(out, "session_halfway", ".writer"), "");
  mkdirSync(join(out, "session_notes"));
  writeFileSync(join(out, "session_notes", "query1.csv.part"), "x\n");
  writeFileSync(join(out, "session_notes", "README"), "kept by a user\n");
  writeFileSync(join(out, "session_notes", ".writer"), "");
  mkdirSync(join(out, "other"));
  writeFileSync(join(out, "other", "query1.csv.part"), "x\n");
  writeFileSync(join(out, "session_file"), "not a folder\n");
  expect(removeAbandonedResults(out)).toEqual([]);
  expect(readdirSync(out).sort()).toEqual(["other", "session_done", "session_file", "session_halfway", "session_notes"]);
  // Named, the results stand alone in their folder: the writer's marker went with the renames.
  expect(readdirSync(join(out, "session_done")).sort()).toEqual(["query1.csv", "query2.csv", "query3.csv", "query4.csv"]);
});

test("an --out folder that does not exist yet has nothing to remove", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  expect(removeAbandonedResults(join(out, "missing"))).toEqual([]);
});

test("a folder without the writer's marker (a client before it, maybe alive) is never removed, and a link is never followed", () => {
  out = mkdtempSync(join(tmpdir(), "coffee-abandoned-"));
  // An older client's folder: its .part files, no marker (alive or dead, nothing tells).
  mkdirSync(join(out, "session_old-client"));
  for (const q of [1, 2, 3, 4]) writeFileSync(join(out, "session_old-client", `query${q}.csv.part`), "");
  expect(removeAbandonedResults(out)).toEqual([]);
  // A link named like a session folder, to a folder outside --out with a dead writer's files.
  const elsewhere = mkdtempSync(join(tmpdir(), "coffee-elsewhere-"));
  try {
    new ResultFiles(elsewhere, "x").close();
    symlinkSync(join(elsewhere, "session_x"), join(out, "session_link"));
    expect(removeAbandonedResults(out)).toEqual([]);
    expect(readdirSync(join(elsewhere, "session_x"))).toContain("query1.csv.part");
    expect(readdirSync(out).sort()).toEqual(["session_link", "session_old-client"]);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
