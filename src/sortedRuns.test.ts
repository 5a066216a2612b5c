import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InternalError, type WalError } from "./errors.ts";
import { makeRunsDurable, mergeRuns, sortedOrder, writeRun } from "./sortedRuns.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-runs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("runs on disk plus rows in memory merge into one (id, cents) sort of everything", () => {
  let seed = 5;
  const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const all: { id: string; cents: number }[] = [];
  const paths: string[] = [];
  for (let r = 0; r < 6; r++) {
    // Duplicated ids across and within runs, non-ASCII ids, an empty run.
    const rows = Array.from({ length: r === 3 ? 0 : 500 + rnd(3000) }, () => ({ id: `${rnd(2) ? "ñ" : "t"}-${rnd(4000)}`, cents: rnd(100000) / 4 }));
    // Every format a session's state may name: the current one with its trailer, and the two before.
    const path = join(dir, `run-${r}.${["run", "rows", "bin"][r % 3]}`);
    writeRun(path, rows.map((x) => x.id), rows.map((x) => x.cents));
    paths.push(path);
    all.push(...rows);
  }
  const memory = Array.from({ length: 777 }, () => ({ id: `t-${rnd(4000)}`, cents: rnd(9999) }));
  all.push(...memory);
  const expected = sortedOrder(all.map((x) => x.id), all.map((x) => x.cents)).map((i) => all[i]!);
  const merged = [...mergeRuns(paths, memory.map((x) => x.id), memory.map((x) => x.cents))];
  expect(merged).toEqual(expected);
});

test("ids sort by code points, as their UTF-8 bytes do, on disk and in the merge", () => {
  // U+FF03 is one UTF-16 unit above the surrogates of U+1F375; as code points it is below.
  const ids = ["a\u{1F375}", "a\uFF03", "b", "a", "a\u00e9"];
  const path = join(dir, "astral.rows");
  writeRun(path, ids.slice(0, 3), [1, 2, 3]);
  const merged = [...mergeRuns([path], ids.slice(3), [4, 5])].map((r) => r.id);
  const byUtf8 = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  expect(merged).toEqual(byUtf8);
  expect(merged).toEqual(["a", "a\u00e9", "a\uFF03", "a\u{1F375}", "b"]);
});

test("an id that starts with U+FEFF keeps it on disk, and sorts where the same id in memory does", () => {
  const ids = ["\uFEFFX", "\uE000", "\uFEFF\uFEFFY", "a"];
  const path = join(dir, "bom.run");
  writeRun(path, ids.slice(0, 3), [1, 2, 3]);
  const merged = [...mergeRuns([path], ids.slice(3), [4])].map((r) => r.id);
  expect(merged).toEqual(["a", "\uE000", "\uFEFFX", "\uFEFF\uFEFFY"]);
});

test("a long id is read across the reader's buffer boundary", () => {
  const ids = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(3, "0")}${"x".repeat(5000)}`);
  const path = join(dir, "long.bin");
  writeRun(path, ids, ids.map((_, i) => i));
  expect([...mergeRuns([path], [], [])].map((r) => r.cents)).toEqual(ids.map((_, i) => i));
});

test("an id longer than 64 KiB fits a run row (the gateway lets fields reach --max-field-bytes)", () => {
  const ids = ["b", `a${"x".repeat(70_000)}`, `a${"y".repeat(65_535)}`, ""];
  const path = join(dir, "wide.rows");
  writeRun(path, ids, [1, 2, 3, 4]);
  expect([...mergeRuns([path], [], [])]).toEqual([{ id: "", cents: 4 }, { id: ids[1]!, cents: 2 }, { id: ids[2]!, cents: 3 }, { id: "b", cents: 1 }]);
});

test("runs of the first format (*.bin, u16 lengths) written before are still read, merged with new ones", () => {
  const old = join(dir, "run-0.bin");
  // Built by hand, as the first format's writer laid it out: u16 length, id, f64 cents.
  const rows = [["t-1", 10], ["t-3", 30]] as const;
  const bytes = new Uint8Array(rows.reduce((n, [id]) => n + 2 + id.length + 8, 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const [id, cents] of rows) {
    view.setUint16(at, id.length, true);
    bytes.set(new TextEncoder().encode(id), at + 2);
    view.setFloat64(at + 2 + id.length, cents, true);
    at += 2 + id.length + 8;
  }
  writeFileSync(old, bytes);
  const fresh = join(dir, "run-1.rows");
  writeRun(fresh, ["t-2"], [20]);
  expect([...mergeRuns([old, fresh], ["t-0"], [0])]).toEqual([0, 1, 2, 3].map((i) => ({ id: `t-${i}`, cents: i * 10 })));
});

test("a *.run larger than the reader's buffer is checked and read across it", () => {
  // About 1 MB of rows: the CRC is taken 64 KiB at a time, and rows straddle the reads.
  const ids = Array.from({ length: 40_000 }, (_, i) => `tx-${String(i).padStart(6, "0")}-${"z".repeat(i % 17)}`);
  const path = join(dir, "big.run");
  writeRun(path, ids, ids.map((_, i) => i % 1000));
  const merged = [...mergeRuns([path], [], [])];
  expect(merged).toHaveLength(40_000);
  expect(merged[39_999]).toEqual({ id: ids[39_999]!, cents: 999 });
  const bytes = readFileSync(path);
  // A byte past the first 64 KiB: only the later reads of the check can see it.
  bytes[bytes.length - 100]! ^= 4;
  writeFileSync(path, bytes);
  expect(() => mergeRuns([path], [], []).next()).toThrow("fails its CRC");
});

test("a *.run cut short or changed on disk is WAL_CORRUPT before the merge yields a row, naming the file", () => {
  const ids = Array.from({ length: 100 }, (_, i) => `t-${String(i).padStart(3, "0")}`);
  const path = join(dir, "checked.run");
  writeRun(path, ids, ids.map((_, i) => 7500 + i));
  const whole = readFileSync(path);
  expect([...mergeRuns([path], [], [])]).toHaveLength(100);
  const rowBytes = 4 + 5 + 8;
  const damaged: [Uint8Array, string][] = [
    // Cut at a row boundary: every row left reads well, and without a check the result is short.
    [whole.subarray(0, rowBytes * 80), "has no trailer (cut short?)"],
    [whole.subarray(0, 5), "is 5 bytes, shorter than its trailer"],
  ];
  const flipped = Buffer.from(whole);
  // One digit of a cents value: a plausible amount, wrong by a cent.
  flipped[rowBytes * 40 + 9 + 2]! ^= 1;
  damaged.push([flipped, "fails its CRC (a byte changed on disk?)"]);
  for (const [bytes, why] of damaged) {
    writeFileSync(path, bytes);
    const merge = mergeRuns([path], ["a-first"], [1]);
    let err: WalError | null = null;
    try {
      merge.next();
    } catch (e) {
      err = e as WalError;
    }
    expect(err?.code).toBe("WAL_CORRUPT");
    expect(err?.message).toStartWith(`sorted run ${path} ${why}`);
  }
});

test("a run that cannot be written is WAL_IO_FAILED, not a stray system error", () => {
  const file = join(dir, "not-a-dir");
  writeFileSync(file, "");
  let code = "";
  try {
    writeRun(join(file, "run-0.rows"), ["t"], [1]);
  } catch (err) {
    code = (err as WalError).code;
  }
  expect(code).toBe("WAL_IO_FAILED");
});

test("a repeated id comes out by cents, whatever order its rows arrived in and wherever they are", () => {
  const a = join(dir, "tie-a.rows");
  const b = join(dir, "tie-b.rows");
  writeRun(a, ["t1", "t1", "t0"], [9000, 7000, 1]);
  writeRun(b, ["t1"], [8000]);
  const rows = [...mergeRuns([a, b], ["t1", "t2"], [6000, 5])];
  expect(rows).toEqual([{ id: "t0", cents: 1 }, { id: "t1", cents: 6000 }, { id: "t1", cents: 7000 }, { id: "t1", cents: 8000 }, { id: "t1", cents: 9000 }, { id: "t2", cents: 5 }]);
});

test("makeRunsDurable fsyncs each run, the folders holding them up to the root, each once; a run deleted since is skipped", async () => {
  const root = realpathSync(mkdtempSync(join(dir, "durable-")));
  const a = join(root, "spill", "session-a", "run-0.run");
  const b = join(root, "spill", "session-a", "run-1.run");
  const gone = join(root, "spill", "session-b", "run-0.run");
  for (const p of [a, b, gone]) writeRun(p, ["t-1"], [1]);
  rmSync(join(root, "spill", "session-b"), { recursive: true });
  const synced: { path: string; kind: string }[] = [];
  await makeRunsDurable([a, b, gone], root, async (fd, kind) => void synced.push({ path: readlinkSync(`/proc/self/fd/${fd}`), kind }));
  const files = synced.filter((s) => s.kind === "file").map((s) => s.path).sort();
  const folders = synced.filter((s) => s.kind === "directory").map((s) => s.path).sort();
  expect(files).toEqual([a, b]);
  // The runs' folder (their entries), the spill root (the session folder's entry), the root (the
  // spill root's entry); not above the root, whose own entry the log made durable.
  expect(folders).toEqual([root, join(root, "spill"), join(root, "spill", "session-a")]);
});

test("a failed fsync of a run is WAL_FSYNC_FAILED naming it; a run outside the root is refused", async () => {
  const root = join(dir, "failing");
  const path = join(root, "spill", "run-0.run");
  writeRun(path, ["t-1"], [1]);
  const err = await makeRunsDurable([path], root, (fd, kind) => (kind === "file" ? Promise.reject(new Error("EIO")) : Promise.resolve())).then(() => null, (e: unknown) => e as WalError);
  expect(err?.code).toBe("WAL_FSYNC_FAILED");
  expect(err?.message).toContain(path);
  expect(await makeRunsDurable([path], join(dir, "elsewhere"), () => Promise.resolve()).then(() => null, (e: unknown) => e)).toBeInstanceOf(InternalError);
});
