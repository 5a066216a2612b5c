import { afterEach, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { WalError } from "./errors.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { Wal } from "./wal.ts";

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), "coffee-gwstore-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const S1 = "5e5510a0-0000-4000-8000-000000000001";
const S2 = "5e5510a0-0000-4000-8000-000000000002";
const spoolFile = (d: string, id: string): string => join(d, "results", `${id}.chunks`);

/** The code of the WalError `f` throws, "not a WalError" for anything else, null when nothing is thrown. */
function walCode(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (err) {
    return err instanceof WalError ? err.code : "not a WalError";
  }
}

/** Write a gateway log by hand, `records` as the store packs them (an older format, or a damaged one). */
async function writeLog(d: string, ...records: unknown[]): Promise<void> {
  const packr = new Packr({ useRecords: false });
  const { wal } = await Wal.open({ dir: d });
  for (const r of records) wal.append(packr.pack(r));
  await wal.close();
}

test("result chunks survive a restart, their text in the spool and not in the registry", async () => {
  const d = fresh();
  const store = await GatewayStore.open(d);
  store.open(S1);
  const added = store.addChunk(S1, { query: "q1", chunk: 0, last: false, csv: "transaction_id,final_amount\n" });
  expect(added).toMatchObject({ query: "q1", chunk: 0, last: false });
  expect(store.chunkText(S1, added!)).toBe("transaction_id,final_amount\n");
  expect(store.addChunk(S1, { query: "q1", chunk: 1, last: true, csv: "t-1,80.00\n" })).not.toBeNull();
  expect(store.addChunk("5e5510a0-0000-4000-8000-00000000dead", { query: "q2", chunk: 0, last: true, csv: "x" })).toBeNull();
  await store.commit();
  await store.shutdown();

  const again = await GatewayStore.open(d);
  const chunks = again.chunks(S1);
  expect(chunks.map((c) => [c.query, c.chunk, c.last])).toEqual([["q1", 0, false], ["q1", 1, true]]);
  for (const c of chunks) expect("csv" in c).toBe(false);
  expect(chunks.map((c) => again.chunkText(S1, c))).toEqual(["transaction_id,final_amount\n", "t-1,80.00\n"]);
  await again.shutdown();
});

test("a closed session's spool is deleted once the close is durable; leftovers go at the next start", async () => {
  const d = fresh();
  const store = await GatewayStore.open(d);
  store.open(S1);
  store.open(S2);
  store.addChunk(S1, { query: "q3", chunk: 0, last: true, csv: "a\n" });
  store.addChunk(S2, { query: "q3", chunk: 0, last: true, csv: "b\n" });
  await store.commit();
  store.close(S1);
  expect(existsSync(spoolFile(d, S1))).toBe(true);
  await store.commit();
  expect(existsSync(spoolFile(d, S1))).toBe(false);
  expect(existsSync(spoolFile(d, S2))).toBe(true);
  await store.shutdown();
  // A crash between a close's commit and its file's deletion leaves the file behind.
  writeFileSync(spoolFile(d, S1), "orphan");
  const again = await GatewayStore.open(d);
  expect(existsSync(spoolFile(d, S1))).toBe(false);
  expect(again.chunkText(S2, again.sessions.get(S2)!.chunks[0]!)).toBe("b\n");
  await again.shutdown();
});

test("a log from before the spool (chunk text in the records) is moved to the spool once", async () => {
  const d = fresh();
  await writeLog(d, ["open", S1], ["chunk", S1, "q4", 0, true, "store_name,birthdate\nA,1990-01-02\n"]);

  const store = await GatewayStore.open(d);
  const [chunk] = store.chunks(S1);
  expect(chunk && store.chunkText(S1, chunk)).toBe("store_name,birthdate\nA,1990-01-02\n");
  await store.shutdown();
  const size = readFileSync(spoolFile(d, S1)).length;
  // Reopening finds refs (a snapshot was taken), not text to move again.
  const again = await GatewayStore.open(d);
  expect(readFileSync(spoolFile(d, S1)).length).toBe(size);
  expect(again.chunkText(S1, again.sessions.get(S1)!.chunks[0]!)).toBe("store_name,birthdate\nA,1990-01-02\n");
  await again.shutdown();
});

test("without a state directory the spool is in memory", async () => {
  const store = await GatewayStore.open(null);
  store.open(S1);
  store.addChunk(S1, { query: "q2", chunk: 0, last: true, csv: "year_month,item_name\n" });
  expect(store.chunkText(S1, store.sessions.get(S1)!.chunks[0]!)).toBe("year_month,item_name\n");
  store.close(S1);
  await store.commit();
  expect(store.sessions.has(S1)).toBe(false);
  await store.shutdown();
});

test("a commit makes the spool durable before the log records that point into it", async () => {
  const d = fresh();
  const fsyncs: string[] = [];
  const store = await GatewayStore.open(join(d, "gateway"), (_, kind) => fsyncs.push(kind));
  // A fresh state directory: the entry of every directory on the log's path within its
  // filesystem (one fsync above each level), the log directory's own contents, then the spool's
  // entry inside it (the state directory holding it) and the spool directory's own contents.
  let levels = 0;
  for (let p = realpathSync(join(d, "gateway")); p !== dirname(p) && statSync(dirname(p)).dev === statSync(d).dev; p = dirname(p)) levels++;
  expect(fsyncs).toEqual([...Array<string>(levels + 1).fill("directory"), "spool-directory", "spool-directory"]);
  store.open(S1);
  await store.commit();
  fsyncs.length = 0;
  store.addChunk(S1, { query: "q1", chunk: 0, last: true, csv: "transaction_id,final_amount\n" });
  await store.commit();
  const spoolAt = fsyncs.indexOf("spool-records");
  const logAt = fsyncs.lastIndexOf("records");
  expect(spoolAt).toBeGreaterThanOrEqual(0);
  expect(logAt).toBeGreaterThan(spoolAt);
  await store.shutdown();
});

test("a chunk record with an offset but no length is WAL_CORRUPT, not a zero-length chunk", async () => {
  const d = fresh();
  await writeLog(d, ["open", S1], ["chunk", S1, "q4", 0, true, 0]);
  let err: unknown = null;
  await GatewayStore.open(d).catch((e: unknown) => (err = e));
  expect(err).toBeInstanceOf(WalError);
  expect((err as WalError).code).toBe("WAL_CORRUPT");
});

test("a session whose spool file was cut short is found at open: it takes no chunk and reads fail, other sessions go on", async () => {
  const d = fresh();
  const store = await GatewayStore.open(d);
  store.open(S1);
  store.open(S2);
  store.addChunk(S1, { query: "q1", chunk: 0, last: false, csv: "transaction_id,final_amount\n" });
  store.addChunk(S1, { query: "q1", chunk: 1, last: false, csv: "t-1,80.00\n" });
  store.addChunk(S2, { query: "q2", chunk: 0, last: true, csv: "year_month,item_name\n" });
  await store.shutdown();
  // Behind the gateway's back: S1's second chunk is gone from disk.
  writeFileSync(spoolFile(d, S1), readFileSync(spoolFile(d, S1)).subarray(0, 30));

  const again = await GatewayStore.open(d);
  expect([...again.damaged.keys()]).toEqual([S1]);
  expect(again.damaged.get(S1)).toMatch(/lost chunk q1#1 \(bytes 28\.\.38 are not on disk\)/);
  const [first] = again.chunks(S1);
  expect(walCode(() => again.chunkText(S1, first!))).toBe("WAL_CORRUPT");
  expect(walCode(() => again.addChunk(S1, { query: "q1", chunk: 2, last: true, csv: "t-2,1.00\n" }))).toBe("WAL_CORRUPT");
  // Nothing was appended where the log says the lost chunk is.
  expect(readFileSync(spoolFile(d, S1)).length).toBe(30);
  const [other] = again.chunks(S2);
  expect(again.chunkText(S2, other!)).toBe("year_month,item_name\n");
  await again.shutdown();
});

test("a spooled chunk changed on disk fails its read WAL_CORRUPT, after a restart and after a snapshot; others read", async () => {
  for (const snapshot of [false, true]) {
    const d = fresh();
    const store = await GatewayStore.open(d);
    store.open(S1);
    store.addChunk(S1, { query: "q1", chunk: 0, last: false, csv: "transaction_id,final_amount\n" });
    store.addChunk(S1, { query: "q1", chunk: 1, last: true, csv: "e62b215d-e047-4327,80.00\n" });
    if (snapshot) {
      // Enough records for a snapshot while S1 is open: it keeps the refs (and their CRCs), and
      // the chunk records go.
      for (let i = 0; i < 5_000; i++) store.open(S1);
      await store.commit();
      await store.maybeSnapshot();
    }
    await store.shutdown();
    if (snapshot) {
      const { wal, recovered } = await Wal.open({ dir: d });
      expect(recovered.snapshot).not.toBeNull();
      expect([...recovered.records()].length).toBe(0);
      await wal.close();
    }
    // Behind the gateway's back: one digit of the second chunk's id, a plausible id still.
    const bytes = readFileSync(spoolFile(d, S1));
    bytes[28 + 15] = "5".charCodeAt(0);
    writeFileSync(spoolFile(d, S1), bytes);

    const again = await GatewayStore.open(d);
    const [header, changed] = again.chunks(S1);
    expect(again.chunkText(S1, header!)).toBe("transaction_id,final_amount\n");
    expect(walCode(() => again.chunkText(S1, changed!))).toBe("WAL_CORRUPT");
    await again.shutdown();
  }
});

test("a chunk record of a gateway that kept no CRC reads unchecked", async () => {
  const d = fresh();
  await writeLog(d, ["open", S1], ["chunk", S1, "q4", 0, true, 0, 5]);
  mkdirSync(join(d, "results"), { recursive: true });
  writeFileSync(spoolFile(d, S1), "hello");
  const store = await GatewayStore.open(d);
  const [c] = store.chunks(S1);
  expect(c!.ref.crc).toBeUndefined();
  expect(store.chunkText(S1, c!)).toBe("hello");
  await store.shutdown();
});

test("a purged session stays pending, across restarts and snapshots, until its purge is confirmed", async () => {
  const d = fresh();
  const store = await GatewayStore.open(d);
  store.open(S1);
  store.open(S2);
  store.addChunk(S1, { query: "q2", chunk: 0, last: false, csv: "x\n" });
  store.purge(S1, "client gone");
  await store.commit();
  expect(existsSync(spoolFile(d, S1))).toBe(false);
  await store.shutdown();

  const again = await GatewayStore.open(d);
  expect([...again.sessions.keys()]).toEqual([S2]);
  expect([...again.pendingPurges]).toEqual([[S1, "client gone"]]);
  // Enough records for a snapshot while S2 is open: the pending purge is in it.
  for (let i = 0; i < 5_000; i++) again.open(S2);
  await again.commit();
  await again.maybeSnapshot();
  await again.shutdown();
  const { wal, recovered } = await Wal.open({ dir: d });
  expect(new Packr({ useRecords: false }).unpack(recovered.snapshot!)).toMatchObject({ purges: [[S1, "client gone"]] });
  expect([...recovered.records()].length).toBe(0);
  await wal.close();

  const third = await GatewayStore.open(d);
  expect([...third.pendingPurges]).toEqual([[S1, "client gone"]]);
  third.purgeConfirmed(S1);
  third.purgeConfirmed(S1);
  await third.shutdown();
  const fourth = await GatewayStore.open(d);
  expect(fourth.pendingPurges.size).toBe(0);
  expect([...fourth.sessions.keys()]).toEqual([S2]);
  await fourth.shutdown();
});

test("a snapshot from before pending purges (the array of sessions alone) still opens", async () => {
  const d = fresh();
  const { wal } = await Wal.open({ dir: d });
  await wal.snapshot(new Packr({ useRecords: false }).pack([{ id: S1, chunks: [] }]));
  await wal.close();
  const store = await GatewayStore.open(d);
  expect([...store.sessions.keys()]).toEqual([S1]);
  expect(store.pendingPurges.size).toBe(0);
  await store.shutdown();
});

test("why a session failed is kept across restarts and snapshots until its time is up", async () => {
  const d = fresh();
  const now = Date.now();
  const store = await GatewayStore.open(d);
  store.open(S1);
  store.open(S2);
  store.failed(S1, "PIPELINE_STALLED", "no result for 600 s", now + 60_000);
  store.failed(S2, "PIPELINE_FAILED", "agg-q4: boom", now - 1);
  store.purge(S1, "PIPELINE_STALLED: no result for 600 s");
  await store.shutdown();

  const again = await GatewayStore.open(d);
  expect(again.failure(S1, now)).toEqual({ code: "PIPELINE_STALLED", message: "no result for 600 s", untilMs: now + 60_000 });
  expect(again.failure(S2, now)).toBeNull();
  expect(again.failure(S1, now + 60_000)).toBeNull();
  // A snapshot keeps the live failure and drops the expired one.
  for (let i = 0; i < 5_000; i++) again.open(S2);
  await again.commit();
  await again.maybeSnapshot();
  await again.shutdown();
  const { wal, recovered } = await Wal.open({ dir: d });
  const snapshot = new Packr({ useRecords: false }).unpack(recovered.snapshot!) as { failures: [string, unknown][] };
  expect(snapshot.failures.map(([id]) => id)).toEqual([S1]);
  await wal.close();

  const third = await GatewayStore.open(d);
  expect(third.failure(S1, now)).toMatchObject({ code: "PIPELINE_STALLED" });
  await third.shutdown();
});

test("a failure with no purge pending survives a snapshot and a restart", async () => {
  const d = fresh();
  const now = Date.now();
  const store = await GatewayStore.open(d);
  store.open(S1);
  store.failed(S1, "PIPELINE_FAILED", "agg-q4: boom", now + 60_000);
  store.close(S1);
  await store.commit();
  // Idle (no session, no purge pending): the log is compacted into a snapshot.
  await store.maybeSnapshot();
  await store.shutdown();
  const { wal, recovered } = await Wal.open({ dir: d });
  expect(recovered.snapshot).not.toBeNull();
  expect(recovered.recordCount).toBe(0);
  await wal.close();
  const again = await GatewayStore.open(d);
  expect(again.failure(S1, now)).toEqual({ code: "PIPELINE_FAILED", message: "agg-q4: boom", untilMs: now + 60_000 });
  await again.shutdown();
});
