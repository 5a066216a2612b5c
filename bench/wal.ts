/**
 * WAL group commit: 1000 records of 4 KB appended and committed in groups of 1, 10 and 100
 * (one fdatasync per group), on real files. Each figure is the median of --runs runs (default 5),
 * each run in a fresh directory under --dir (default the OS temp dir; use the disk you care about).
 *
 *   bun bench/wal.ts [--dir DIR] [--runs N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "../src/wal.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, { dir: { type: "string" }, runs: { type: "string" } });
const base = values.dir ?? tmpdir();
const runs = Number(values.runs ?? 5);
const RECORDS = 1000;
const payload = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);

/** Seconds to append and commit RECORDS records in groups of `group`, in a fresh log. */
async function once(group: number): Promise<number> {
  const dir = mkdtempSync(join(base, "coffee-wal-bench-"));
  try {
    const { wal } = await Wal.open({ dir });
    const started = performance.now();
    for (let i = 0; i < RECORDS; i++) {
      wal.append(payload);
      if ((i + 1) % group === 0) await wal.commit();
    }
    await wal.commit();
    const seconds = (performance.now() - started) / 1000;
    await wal.close();
    return seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`| group | commits | median s | commits/s | records/s | MB/s |`);
console.log(`| ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const group of [1, 10, 100]) {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(await once(group));
  times.sort((a, b) => a - b);
  const s = times[Math.floor(times.length / 2)] ?? NaN;
  const commits = RECORDS / group;
  const mb = (RECORDS * payload.length) / 1e6;
  console.log(`| ${group} | ${commits} | ${s.toFixed(3)} | ${Math.round(commits / s)} | ${Math.round(RECORDS / s)} | ${(mb / s).toFixed(1)} |`);
}
