import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeRetiredLeftovers, retireStateDirs } from "./retiredState.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const folder = (name: string): void => {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, "wal-0000000000000001.log"), "x");
};

test("named folders go whole; others and missing names are left as they are", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-retired-"));
  folder("gateway");
  folder("agg-q1");
  folder("logs");
  retireStateDirs(dir, ["gateway", "agg-q1", "agg-q2"]);
  expect(readdirSync(dir)).toEqual(["logs"]);
});

test("a removal cut short leaves only a set-aside folder, which the next start removes; a name set aside twice still goes", () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-retired-"));
  // What a SIGKILL between the rename and the removal leaves.
  folder("gateway.deleting");
  folder("agg-q1");
  // Not a name of ours: kept, whatever it ends with.
  folder("photos.deleting");
  expect(removeRetiredLeftovers(dir, ["gateway", "agg-q1"])).toEqual(["gateway.deleting"]);
  expect(readdirSync(dir).sort()).toEqual(["agg-q1", "photos.deleting"]);
  rmSync(join(dir, "photos.deleting"), { recursive: true });
  folder("agg-q1.deleting");
  retireStateDirs(dir, ["agg-q1"]);
  expect(readdirSync(dir)).toEqual([]);
  expect(removeRetiredLeftovers(join(dir, "none"), ["gateway"])).toEqual([]);
});
