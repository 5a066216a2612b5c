import { afterAll, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recoverAggregatorStore } from "./aggregatorRecovery.ts";
import { AggregatorStore } from "./aggregatorStore.ts";
import { decodeMessage, encodeMessage, type BrokerMessage } from "./codec.ts";
import type { Logger } from "./log.ts";
import { q3Reducer } from "./queries/q3.ts";
import { RESULTS_KEY } from "./topology.ts";
import { SET_ASIDE_MARKER } from "./stateSetAside.ts";
import { RECORD_HEADER_BYTES, segmentFileName, Wal } from "./wal.ts";

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const partial = (session: string, seq: number): BrokerMessage => ({
  kind: "data", session, entity: "transactions", seq, bodyKind: "q3-partial",
  body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100 * (seq + 1)) },
});

function emptyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "coffee-recover-"));
  dirs.push(dir);
  return dir;
}

/** A state directory holding a log of two sessions' batches, closed. */
async function loggedDir(): Promise<string> {
  const dir = emptyDir();
  const { store } = await AggregatorStore.open(dir, q3Reducer);
  for (const m of [partial("A", 0), partial("B", 0), partial("A", 1)]) {
    const raw = encodeMessage(m);
    store.state.apply(decodeMessage(raw));
    store.logMessage(raw);
  }
  await store.commit();
  await store.close();
  return dir;
}

/** Flip one payload byte of the log's first record: valid records follow, so this is corruption, not a torn tail. */
function damageFirstRecord(dir: string): void {
  const path = join(dir, segmentFileName(1));
  const bytes = readFileSync(path);
  bytes[RECORD_HEADER_BYTES + 4]! ^= 0xff;
  writeFileSync(path, bytes);
}

function recorder() {
  const published: { key: string; msg: BrokerMessage }[] = [];
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const transport = { publish: async (key: string, body: Uint8Array) => void published.push({ key, msg: decodeMessage(body) }) };
  return { published, lines, log, transport };
}

test("a log that recovers is used as it is, and the gateway hears nothing", async () => {
  const dir = await loggedDir();
  const { published, log, transport } = recorder();
  const got = await recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log });
  expect(got.setAside).toBeNull();
  expect(got.replayed).toBe(3);
  expect(got.store.state.size).toBe(2);
  expect(published).toEqual([]);
  await got.store.close();
});

test("a corrupt log: the gateway is told, the files are set aside untouched, and an empty log takes their place", async () => {
  const dir = await loggedDir();
  damageFirstRecord(dir);
  const damaged = readFileSync(join(dir, segmentFileName(1)));
  const { published, lines, log, transport } = recorder();
  const got = await recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log });

  expect(published).toHaveLength(1);
  expect(published[0]!.key).toBe(RESULTS_KEY);
  expect(published[0]!.msg).toMatchObject({ kind: "stateLost", query: "q3", reason: expect.stringMatching(/^WAL_CORRUPT: .*wal-0000000000000001\.log at offset 0/) });
  expect(got.setAside).toStartWith(join(dir, "corrupt-"));
  expect(readFileSync(join(got.setAside!, segmentFileName(1)))).toEqual(damaged);
  expect(got.store.state.size).toBe(0);
  expect(lines).toEqual([
    expect.stringMatching(/^the write-ahead log in .* cannot be recovered: WAL_CORRUPT: .*wal-0000000000000001\.log at offset 0/),
    `its files were set aside in ${got.setAside}; the gateway fails every running session still waiting for q3's result, and this aggregator starts on an empty log`,
  ]);

  // The new log works, and the next start recovers it without setting anything aside again.
  const raw = encodeMessage(partial("C", 0));
  got.store.state.apply(decodeMessage(raw));
  got.store.logMessage(raw);
  await got.store.commit();
  await got.store.close();
  const again = recorder();
  const next = await recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport: again.transport, log: again.log });
  expect(next.setAside).toBeNull();
  expect(next.replayed).toBe(1);
  expect(again.published).toEqual([]);
  expect(readdirSync(dir).filter((n) => n.startsWith("corrupt-"))).toHaveLength(1);
  await next.store.close();
});

test("when the gateway cannot be told, nothing is set aside: the next start finds the log corrupt and tells again", async () => {
  const dir = await loggedDir();
  damageFirstRecord(dir);
  const { log } = recorder();
  const failing = { publish: () => Promise.reject(new Error("broker gone")) };
  await expect(recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport: failing, log })).rejects.toThrow("broker gone");
  expect(existsSync(join(dir, segmentFileName(1)))).toBe(true);
  expect(readdirSync(dir).some((n) => n.startsWith("corrupt-"))).toBe(false);
});

test("a set-aside a crash cut short is finished before anything is read, without telling the gateway again", async () => {
  const dir = await loggedDir();
  // The gateway was told, the marker written, then the process died before the first rename.
  const name = "corrupt-2026-12-07T04-05-06-789Z";
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, SET_ASIDE_MARKER), name);
  const { published, lines, log, transport } = recorder();
  const got = await recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log });
  // The log it holds is intact: reading it would bring back state the gateway already failed.
  expect(got.setAside).toBe(join(dir, name));
  expect(got.store.state.size).toBe(0);
  expect(readdirSync(join(dir, name))).toContain(segmentFileName(1));
  expect(existsSync(join(dir, SET_ASIDE_MARKER))).toBe(false);
  expect(published).toEqual([]);
  expect(lines).toEqual([expect.stringContaining(`the files are now all in ${join(dir, name)}`)]);
  await got.store.close();
});

test("a log that cannot be read now (WAL_IO_FAILED) is thrown, never set aside", async () => {
  const dir = emptyDir();
  // A directory where a segment should be: reading it fails with EISDIR.
  mkdirSync(join(dir, segmentFileName(1)));
  const { published, log, transport } = recorder();
  await expect(recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log })).rejects.toThrow(expect.objectContaining({ code: "WAL_IO_FAILED" }));
  expect(published).toEqual([]);
  expect(readdirSync(dir)).toEqual([segmentFileName(1)]);
});

test("a snapshot of a newer version is refused (CONFIG_INVALID), never set aside", async () => {
  const dir = emptyDir();
  const { wal } = await Wal.open({ dir });
  await wal.snapshot(new Packr({ useRecords: false }).pack([99, [], []]));
  await wal.close();
  const before = readdirSync(dir).sort();
  const { published, log, transport } = recorder();
  await expect(recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log })).rejects.toThrow(expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringContaining("written by a newer version") }));
  expect(published).toEqual([]);
  expect(readdirSync(dir).sort()).toEqual(before);
});

test("a record that passes its CRC but does not read (a bad result cut) is set aside too, and the damaged log's file is closed", async () => {
  const dir = emptyDir();
  const { wal } = await Wal.open({ dir });
  wal.append(Uint8Array.of(3, 0xc0)); // a cut record whose payload is nil
  await wal.commit();
  await wal.close();
  const fds = (): number => readdirSync("/proc/self/fd").length;
  const open = fds();
  const { published, log, transport } = recorder();
  const got = await recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log });
  expect(published[0]!.msg).toMatchObject({ kind: "stateLost", reason: "WAL_CORRUPT: aggregator log: a result-cut record that is not [session, size, \"bytes\"] or [session, size]" });
  expect(got.setAside).not.toBeNull();
  await got.store.close();
  expect(fds()).toBe(open);
});

test("the very next snapshot format (3) is refused as a newer version's too, never set aside; an unknown one is WAL_CORRUPT", async () => {
  const dir = emptyDir();
  const { wal } = await Wal.open({ dir });
  await wal.snapshot(new Packr({ useRecords: false }).pack([3, [], []]));
  await wal.close();
  const { published, log, transport } = recorder();
  await expect(recoverAggregatorStore({ dir, query: "q3", reducer: q3Reducer, transport, log })).rejects.toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  expect(published).toEqual([]);

  const odd = emptyDir();
  const w2 = (await Wal.open({ dir: odd })).wal;
  await w2.snapshot(new Packr({ useRecords: false }).pack([0, [], []]));
  await w2.close();
  await expect(AggregatorStore.open(odd, q3Reducer)).rejects.toThrow(expect.objectContaining({ code: "WAL_CORRUPT" }));
});

test("every malformed cut record is WAL_CORRUPT (a cut that reads would put a whole result in one chunk); both cut forms read", async () => {
  const packr = new Packr({ useRecords: false });
  const logOf = async (payload: unknown): Promise<string> => {
    const dir = emptyDir();
    const { wal } = await Wal.open({ dir });
    // Session s is open (one eos of its), so a cut of its is kept.
    wal.append(Uint8Array.of(1, ...encodeMessage({ kind: "eos", session: "s", entity: "stores", count: 1 })));
    wal.append(Uint8Array.of(3, ...packr.pack(payload)));
    await wal.commit();
    await wal.close();
    return dir;
  };
  for (const bad of [["s", 0, "bytes"], ["s", -5], [7, 100, "bytes"], ["s", 1.5], ["s", 100, "chars"], ["s", 100, "bytes", 1], ["s"], "s"]) {
    const err = await AggregatorStore.open(await logOf(bad), q3Reducer).then(() => null, (e: unknown) => e);
    expect([bad, (err as { code?: string } | null)?.code]).toEqual([bad, "WAL_CORRUPT"]);
  }
  for (const [good, cut] of [[["s", 100, "bytes"], { size: 100, unit: "bytes" }], [["s", 60], { size: 60, unit: "chars" }]] as const) {
    const { store } = await AggregatorStore.open(await logOf(good), q3Reducer);
    expect(store.state.cutOf("s")).toEqual(cut);
    await store.close();
  }
});
