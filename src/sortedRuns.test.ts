import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeRuns, sortedOrder, writeRun } from "./sortedRuns.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-runs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("runs on disk plus rows in memory merge into one stable sort of everything", () => {
  let seed = 5;
  const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const all: { id: string; cents: number }[] = [];
  const paths: string[] = [];
  for (let r = 0; r < 6; r++) {
    // Duplicated ids across and within runs, non-ASCII ids, an empty run.
    const rows = Array.from({ length: r === 3 ? 0 : 500 + rnd(3000) }, () => ({ id: `${rnd(2) ? "ñ" : "t"}-${rnd(4000)}`, cents: rnd(100000) / 4 }));
    const path = join(dir, `run-${r}.bin`);
    writeRun(path, rows.map((x) => x.id), rows.map((x) => x.cents));
    paths.push(path);
    all.push(...rows);
  }
  const memory = Array.from({ length: 777 }, () => ({ id: `t-${rnd(4000)}`, cents: rnd(9999) }));
  all.push(...memory);
  const expected = sortedOrder(all.map((x) => x.id)).map((i) => all[i]!);
  const merged = [...mergeRuns(paths, memory.map((x) => x.id), memory.map((x) => x.cents))];
  expect(merged).toEqual(expected);
});

test("a long id is read across the reader's buffer boundary", () => {
  const ids = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(3, "0")}${"x".repeat(5000)}`);
  const path = join(dir, "long.bin");
  writeRun(path, ids, ids.map((_, i) => i));
  expect([...mergeRuns([path], [], [])].map((r) => r.cents)).toEqual(ids.map((_, i) => i));
});
