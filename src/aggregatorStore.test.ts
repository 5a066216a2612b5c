import { afterAll, describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { existsSync, fstatSync, fsyncSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AggregatorState } from "./aggregatorState.ts";
import { AggregatorStore } from "./aggregatorStore.ts";
import { decodeMessage, encodeMessage, type BrokerMessage } from "./codec.ts";
import { q1Reducer } from "./queries/q1.ts";
import { q2Reducer } from "./queries/q2.ts";
import { q3Reducer } from "./queries/q3.ts";
import { q4Reducer } from "./queries/q4.ts";
import { Wal } from "./wal.ts";
import { InternalError } from "./errors.ts";
import { packColumn } from "./textColumn.ts";

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), "coffee-agg-")); dirs.push(d); return d; };

const stores = (session: string): BrokerMessage => ({ kind: "data", session, entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1, 2), name: ["Centro", "Norte, 2"] } });
const partial = (session: string, seq: number, cents: number): BrokerMessage => ({
  kind: "data", session, entity: "transactions", seq, bodyKind: "q3-partial",
  body: { half: Int32Array.of(20241, 20242), store: Int32Array.of(1, 2), cents: Float64Array.of(cents, cents * 2) },
});
const eos = (session: string, entity: "stores" | "transactions", count: number): BrokerMessage => ({ kind: "eos", session, entity, count });

/** Apply and log like the aggregator role does, then make it durable. */
async function feed(store: AggregatorStore, msgs: BrokerMessage[]): Promise<string[]> {
  const effects: string[] = [];
  for (const m of msgs) {
    const raw = encodeMessage(m);
    const effect = store.state.apply(decodeMessage(raw));
    if (effect === "applied" || effect === "purged") store.logMessage(raw);
    effects.push(effect);
  }
  await store.commit();
  return effects;
}

describe("aggregator store", () => {
  test("a snapshot of open sessions holds their state, not their messages, and recovery is exact", async () => {
    const dir = tempDir();
    const first = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 3 })).store;
    await feed(first, [stores("A"), partial("A", 0, 1000), partial("A", 1, 250), partial("B", 0, 7)]);
    expect(await first.maybeSnapshot()).toBe(true);
    await feed(first, [partial("A", 2, 5), eos("A", "stores", 1)]);
    await first.close();

    // Recovered from snapshot + the two records after it.
    const { store: again, replayed } = await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 3 });
    expect(replayed).toBe(2);
    // Redeliveries of batches applied before and after the snapshot are duplicates.
    expect(await feed(again, [partial("A", 1, 250), partial("A", 2, 5), partial("B", 0, 7)])).toEqual(["duplicate", "duplicate", "duplicate"]);
    await feed(again, [eos("A", "transactions", 3)]);
    expect(again.state.isComplete("A")).toBe(true);
    expect(again.state.isComplete("B")).toBe(false);

    // The same messages folded in memory, never snapshotted, give the same result.
    const plain = new AggregatorState(q3Reducer);
    for (const m of [stores("A"), partial("A", 0, 1000), partial("A", 1, 250), partial("A", 2, 5), eos("A", "stores", 1), eos("A", "transactions", 3)]) plain.apply(m);
    expect([...again.state.result("A")]).toEqual([...plain.result("A")]);
    expect([...again.state.result("A")].join("")).toBe("year_half_created_at,store_name,tpv\n2024-H1,Centro,12.55\n2024-H2,\"Norte, 2\",25.1\n");
    await again.close();
  });

  test("a log grown past snapshotEveryBytes is compacted though a session is open, and recovers from the snapshot", async () => {
    const dir = tempDir();
    const msgs = [stores("A"), partial("A", 0, 1000), partial("A", 1, 250)];
    // Records are the message and one byte of kind: the first two stay under the limit, the third reaches it.
    const bytes = msgs.map((m) => encodeMessage(m).length + 1);
    const limit = bytes[0]! + bytes[1]! + 1;
    const s = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1_000_000, snapshotEveryBytes: limit })).store;
    await feed(s, msgs.slice(0, 2));
    expect(s.snapshotDue).toBe(false);
    expect(await s.maybeSnapshot()).toBe(false);
    await feed(s, msgs.slice(2));
    expect(s.snapshotDue).toBe(true);
    expect(s.state.size).toBe(1);
    expect(await s.maybeSnapshot()).toBe(true);
    expect(s.snapshotDue).toBe(false);
    await s.close();
    const { store: again, replayed } = await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1_000_000, snapshotEveryBytes: limit });
    expect(replayed).toBe(0);
    expect(await feed(again, [partial("A", 1, 250)])).toEqual(["duplicate"]);
    await again.close();
  });

  test("finished sessions stay ended across a snapshot: their late messages are dropped", async () => {
    const dir = tempDir();
    const s = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1 })).store;
    await feed(s, [stores("C"), partial("C", 0, 100), eos("C", "stores", 1), eos("C", "transactions", 1)]);
    s.state.markFinished("C");
    s.logFinished("C");
    await s.commit();
    expect(await s.maybeSnapshot()).toBe(true);
    await s.close();
    const again = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1 })).store;
    expect(await feed(again, [partial("C", 0, 100)])).toEqual(["ended"]);
    await again.close();
  });
});

/** Per query: the messages of two sessions, in delivery order (dimension batches, facts, eos). */
function workload(query: "q1" | "q2" | "q4", session: string, salt: number): BrokerMessage[] {
  const d = (entity: BrokerMessage extends infer M ? M extends { entity: infer E } ? E : never : never, seq: number, bodyKind: string, body: unknown): BrokerMessage =>
    ({ kind: "data", session, entity, seq, bodyKind, body }) as BrokerMessage;
  const n = 40;
  const ints = (f: (i: number) => number): Int32Array => Int32Array.from({ length: n }, (_, i) => f(i));
  const floats = (f: (i: number) => number): Float64Array => Float64Array.from({ length: n }, (_, i) => f(i));
  switch (query) {
    case "q1":
      return [0, 1, 2].map((seq) => d("transactions", seq, "transactions", {
        id: packColumn(Array.from({ length: n }, (_, i) => `t-${salt}-${(i * 7919 + seq * 31) % 1000}`)), store: ints(() => 1), user: ints((i) => i),
        cents: floats((i) => 7500 + i * salt + seq), date: ints(() => 20240101), time: ints(() => 36000),
      })).concat([{ kind: "eos", session, entity: "transactions", count: 3 }]);
    case "q2":
      return [
        d("menu_items", 0, "menu_items", { id: Int32Array.of(1, 2, 3), name: ["Latte", "Mocha", "Tea, green"] }),
        ...[0, 1, 2].map((seq) => d("transaction_items", seq, "q2-partial", { month: ints((i) => 202401 + (i % 3)), item: ints((i) => 1 + ((i + seq) % 3)), qty: floats((i) => 1 + ((i * salt) % 5)), cents: floats((i) => 100 * ((i + seq) % 7)) })),
        { kind: "eos", session, entity: "menu_items", count: 1 }, { kind: "eos", session, entity: "transaction_items", count: 3 },
      ];
    case "q4":
      return [
        d("stores", 0, "stores", { id: Int32Array.of(1, 2), name: ["Centro", "Norte"] }),
        d("users", 0, "users", { user: ints((i) => i * 1000 + salt), birth: ints((i) => (i % 5 === 0 ? 0 : (1950 + (i % 40)) * 10000 + (1 + (i % 9)) * 100 + 10 + (i % 10))) }),
        ...[0, 1, 2].map((seq) => d("transactions", seq, "q4-partial", { store: ints((i) => 1 + (i % 2)), user: ints((i) => ((i * 13 + seq) % n) * 1000 + salt), count: floats((i) => 1 + ((i + seq) % 4)) })),
        { kind: "eos", session, entity: "stores", count: 1 }, { kind: "eos", session, entity: "users", count: 1 }, { kind: "eos", session, entity: "transactions", count: 3 },
      ];
  }
}

describe("snapshot, crash, recover: every query equals an uninterrupted run", () => {
  for (const [query, reducer] of [["q1", q1Reducer], ["q2", q2Reducer], ["q4", q4Reducer]] as const) {
    test(query, async () => {
      const a = workload(query, "A", 3);
      const b = workload(query, "B", 5);
      // Interleave the two sessions; snapshot while both are open, halfway through.
      const all = a.flatMap((m, i) => [m, b[i]]).filter((m): m is BrokerMessage => m !== undefined);
      const half = Math.floor(all.length / 2);
      const dir = tempDir();
      // spillRows 30: Q1 writes sorted runs to disk along the way (40 rows a batch).
      const first = (await AggregatorStore.open(dir, reducer, { snapshotEvery: 1, spillRows: 30 })).store;
      await feed(first, all.slice(0, half));
      expect(await first.maybeSnapshot()).toBe(true);
      await first.close();
      // After the "crash": recover from the snapshot alone, then take the rest, with redeliveries.
      if (query === "q1") expect(readdirSync(join(dir, "spill", "A")).length).toBeGreaterThan(0);
      // A spill directory of no open session (a crash after its session ended) is removed on open.
      mkdirSync(join(dir, "spill", "gone"), { recursive: true });
      const again = (await AggregatorStore.open(dir, reducer, { snapshotEvery: 1_000_000, spillRows: 30 })).store;
      expect(existsSync(join(dir, "spill", "gone"))).toBe(false);
      const effects = await feed(again, [...all.slice(half - 2, half), ...all.slice(half)]);
      expect(effects.slice(0, 2).every((e) => e === "duplicate" || e === "applied")).toBe(true);
      const plain = new AggregatorState(reducer);
      for (const m of all) plain.apply(m);
      for (const s of ["A", "B"]) {
        expect(again.state.isComplete(s)).toBe(true);
        expect([...again.state.result(s)]).toEqual([...plain.result(s)]);
      }
      expect([...again.state.result("A")].length).toBeGreaterThan(1);
      // Finished sessions leave no files behind, once their end is durable.
      again.state.markFinished("A");
      again.logFinished("A");
      if (query === "q1") expect(existsSync(join(dir, "spill", "A"))).toBe(true);
      await again.commit();
      expect(existsSync(join(dir, "spill", "A"))).toBe(false);
      await again.close();
    });
  }
});

test("the size a result is cut at survives recovery, from the log and from a snapshot", async () => {
  const dir = tempDir();
  const first = (await AggregatorStore.open(dir, q3Reducer)).store;
  await feed(first, [stores("A"), partial("A", 0, 10), stores("B")]);
  first.state.fixCut("A", { size: 777, unit: "bytes" });
  first.logCut("A", { size: 777, unit: "bytes" });
  await first.commit();
  await first.close();

  const fromLog = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1 })).store;
  expect(fromLog.state.cutOf("A")).toEqual({ size: 777, unit: "bytes" });
  expect(fromLog.state.cutOf("B")).toBeUndefined();
  await feed(fromLog, [partial("B", 0, 3)]);
  expect(await fromLog.maybeSnapshot()).toBe(true);
  await fromLog.close();

  const { store: fromSnapshot, replayed } = await AggregatorStore.open(dir, q3Reducer);
  expect(replayed).toBe(0);
  expect(fromSnapshot.state.cutOf("A")).toEqual({ size: 777, unit: "bytes" });
  expect(fromSnapshot.state.cutOf("B")).toBeUndefined();
  await fromSnapshot.close();
});

test("a cut an older build logged, as [session, size] or in a snapshot without its unit, is in characters", async () => {
  const packr = new Packr({ useRecords: false });
  const fromLog = tempDir();
  {
    const first = (await AggregatorStore.open(fromLog, q3Reducer)).store;
    await feed(first, [stores("A"), partial("A", 0, 10)]);
    await first.commit();
    await first.close();
    const { wal } = await Wal.open({ dir: fromLog });
    wal.append(Uint8Array.of(3, ...packr.pack(["A", 500])));
    await wal.commit();
    await wal.close();
  }
  const store = (await AggregatorStore.open(fromLog, q3Reducer, { snapshotEvery: 1 })).store;
  expect(store.state.cutOf("A")).toEqual({ size: 500, unit: "chars" });
  // Written again by this build, a cut in characters keeps the old shape, so it stays one.
  await feed(store, [partial("A", 1, 1)]);
  expect(await store.maybeSnapshot()).toBe(true);
  await store.close();
  const again = (await AggregatorStore.open(fromLog, q3Reducer)).store;
  expect(again.state.cutOf("A")).toEqual({ size: 500, unit: "chars" });
  await again.close();
});

test("a result-cut record that is not [session, size, \"bytes\"] or [session, size] is WAL_CORRUPT, not a result in one chunk", async () => {
  const dir = tempDir();
  const wal = (await Wal.open({ dir })).wal;
  wal.append(Uint8Array.of(3, ...new Packr({ useRecords: false }).pack(["A", "lots"])));
  await wal.commit();
  await wal.close();
  const err = await AggregatorStore.open(dir, q3Reducer).then(() => null, (e: unknown) => e);
  expect(err).toMatchObject({ code: "WAL_CORRUPT" });

  const unknownUnit = tempDir();
  const other = (await Wal.open({ dir: unknownUnit })).wal;
  other.append(Uint8Array.of(3, ...new Packr({ useRecords: false }).pack(["A", 500, "words"])));
  await other.commit();
  await other.close();
  expect(await AggregatorStore.open(unknownUnit, q3Reducer).then(() => null, (e: unknown) => e)).toMatchObject({ code: "WAL_CORRUPT" });
});

test("a snapshot written by an earlier version (format 1: raw messages) still recovers", async () => {
  const dir = tempDir();
  const { wal } = await Wal.open({ dir });
  await wal.snapshot(new Packr({ useRecords: false }).pack([["OLD"], [stores("A"), partial("A", 0, 1000)].map(encodeMessage)]));
  await wal.close();
  const store = (await AggregatorStore.open(dir, q3Reducer)).store;
  expect(await feed(store, [partial("A", 0, 1000), partial("OLD", 0, 1)])).toEqual(["duplicate", "ended"]);
  await feed(store, [eos("A", "stores", 1), eos("A", "transactions", 1)]);
  expect([...store.state.result("A")].join("")).toBe("year_half_created_at,store_name,tpv\n2024-H1,Centro,10.0\n2024-H2,\"Norte, 2\",20.0\n");
  await store.close();
});

test("a crash after a Q1 session finished but before that was durable recovers it whole: its spilled runs are still there", async () => {
  const dir = tempDir();
  const msgs = workload("q1", "X", 3);
  const last = msgs.length - 1;
  const first = (await AggregatorStore.open(dir, q1Reducer, { snapshotEvery: 1, spillRows: 30 })).store;
  // Everything but the last message, then a snapshot that lists the spilled runs.
  await feed(first, msgs.slice(0, last));
  expect(await first.maybeSnapshot()).toBe(true);
  await feed(first, msgs.slice(last));
  expect(first.state.isComplete("X")).toBe(true);
  const expected = [...first.state.result("X")];
  // Published, finished, logged: and the process dies before the commit.
  first.state.markFinished("X");
  first.logFinished("X");
  expect(readdirSync(join(dir, "spill", "X")).length).toBeGreaterThan(0);
  const again = (await AggregatorStore.open(dir, q1Reducer, { snapshotEvery: 1_000_000, spillRows: 30 })).store;
  expect(again.state.isComplete("X")).toBe(true);
  expect([...again.state.result("X")]).toEqual(expected);
  await again.close();
  await first.close().catch(() => {});
});

test("a message of an entity the query does not read is misrouted: no session is opened for it", () => {
  const state = new AggregatorState(q1Reducer);
  expect(state.apply(stores("A"))).toBe("misrouted");
  expect(state.apply(eos("A", "stores", 1))).toBe("misrouted");
  expect(state.size).toBe(0);
});

test("an aggregator without a spill root remembers no ended session's files (nothing would drain them)", () => {
  const state = new AggregatorState(q3Reducer);
  for (let i = 0; i < 1000; i++) {
    state.apply(stores(`S${i}`));
    state.markFinished(`S${i}`);
  }
  expect(state.filesAwaitingDrop).toBe(0);
});

test("after a snapshot the count starts again: the next message alone does not snapshot again", async () => {
  const dir = tempDir();
  const s = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 3 })).store;
  const msg = (seq: number): Uint8Array => encodeMessage({ kind: "data", session: "A", entity: "transactions", seq, bodyKind: "q3-partial", body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100) } });
  for (let seq = 0; seq < 3; seq++) {
    const raw = msg(seq);
    s.state.apply(decodeMessage(raw));
    s.logMessage(raw);
  }
  await s.commit();
  expect(await s.maybeSnapshot()).toBe(true);
  const raw = msg(3);
  s.state.apply(decodeMessage(raw));
  s.logMessage(raw);
  await s.commit();
  expect(s.snapshotDue).toBe(false);
  expect(await s.maybeSnapshot()).toBe(false);
  await s.close();
});

test("the records since the last snapshot are counted again at recovery: a log that was due is compacted after a crash, not snapshotEvery records later", async () => {
  const dir = tempDir();
  const first = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 3 })).store;
  for (let seq = 0; seq < 3; seq++) {
    const raw = encodeMessage({ kind: "data", session: "A", entity: "transactions", seq, bodyKind: "q3-partial", body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100) } });
    first.state.apply(decodeMessage(raw));
    first.logMessage(raw);
  }
  await first.commit();
  // Killed before it compacted (closed here without a snapshot, as a kill leaves the log).
  await first.close();
  // Due by its bytes...
  const byBytes = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1000, snapshotEveryBytes: 100 })).store;
  expect(byBytes.snapshotDue).toBe(true);
  await byBytes.close();
  // ...and by its count.
  const byCount = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 3 })).store;
  expect(byCount.snapshotDue).toBe(true);
  expect(await byCount.maybeSnapshot()).toBe(true);
  await byCount.close();
  const compacted = (await AggregatorStore.open(dir, q3Reducer, { snapshotEvery: 1, snapshotEveryBytes: 1 })).store;
  expect(compacted.snapshotDue).toBe(false);
  await compacted.close();
});

test("lineage that contradicts itself fails live (either order), but a log holding it (an earlier build's) still opens", async () => {
  const data = (session: string, seq: number): Uint8Array => encodeMessage({ kind: "data", session, entity: "transactions", seq, bodyKind: "q3-partial", body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100) } });
  const eos = (session: string, count: number): Uint8Array => encodeMessage({ kind: "eos", session, entity: "transactions", count });
  const live = new AggregatorState(q3Reducer);
  live.apply(decodeMessage(data("A", 5)));
  expect(() => live.apply(decodeMessage(eos("A", 2)))).toThrow(InternalError);
  live.apply(decodeMessage(eos("B", 2)));
  expect(() => live.apply(decodeMessage(data("B", 5)))).toThrow(InternalError);
  expect(() => live.apply(decodeMessage(data("B", 6)))).toThrow("transactions batch #6 arrived after its end of stream counted 2 batches");
  // A batch below the count, sent again, is still a plain duplicate.
  live.apply(decodeMessage(data("B", 1)));
  expect(live.apply(decodeMessage(data("B", 1)))).toBe("duplicate");

  const dir = tempDir();
  const { wal } = await Wal.open({ dir });
  for (const raw of [data("A", 5), eos("A", 2)]) wal.append(Uint8Array.of(1, ...raw));
  await wal.commit();
  await wal.close();
  const { store } = await AggregatorStore.open(dir, q3Reducer);
  expect(store.state.size).toBe(1);
  await store.close();
});

test("a session that ends while a commit's fsync is under way keeps its files until the commit that holds its end", async () => {
  const dir = tempDir();
  // File fsyncs held until released, as a slow disk's.
  let holding = false;
  const held: (() => void)[] = [];
  let onHeld: (() => void) | null = null;
  const fsync = (fd: number): void | Promise<void> => {
    if (!holding || fstatSync(fd).isDirectory()) return fsyncSync(fd);
    return new Promise<void>((done) => {
      held.push(() => { fsyncSync(fd); done(); });
      onHeld?.();
    });
  };
  const nextHeld = (): Promise<() => void> =>
    new Promise((r) => {
      const take = (): void => r(held.shift()!);
      if (held.length > 0) take();
      else onHeld = () => { onHeld = null; take(); };
    });
  const store = (await AggregatorStore.open(dir, q1Reducer, { spillRows: 30, fsync })).store;
  await feed(store, workload("q1", "X", 3));
  expect(store.state.isComplete("X")).toBe(true);
  expect(readdirSync(join(dir, "spill", "X")).length).toBeGreaterThan(0);
  // A commit of another session's record is under way when X's end is logged.
  holding = true;
  const y = encodeMessage(stores("Y"));
  store.state.apply(decodeMessage(y));
  store.logMessage(y);
  const first = store.commit();
  const releaseFirst = await nextHeld();
  store.state.markFinished("X");
  store.logFinished("X");
  const second = store.commit();
  releaseFirst();
  await first;
  // X's end is not durable yet: a crash now recovers X open, and its runs must be there.
  expect(readdirSync(join(dir, "spill", "X")).length).toBeGreaterThan(0);
  (await nextHeld())();
  await second;
  expect(existsSync(join(dir, "spill", "X"))).toBe(false);
  await store.close();
});

test("Q1 runs are fsynced not when written but before the snapshot that names them, with their folders; also those a replay wrote again", async () => {
  const dir = realpathSync(tempDir());
  const synced: string[] = [];
  const fsync = (fd: number): void => {
    synced.push(readlinkSync(`/proc/self/fd/${fd}`));
    fsyncSync(fd);
  };
  const spill = join(dir, "spill", "X");
  const runsOnDisk = (): string[] => readdirSync(spill).sort().map((n) => join(spill, n));
  /** Every one of `paths` fsynced, each before the snapshot's own file. */
  const durableBeforeSnapshot = (paths: string[]): void => {
    const snapshotFile = synced.findIndex((p) => /snapshot-\d+\.bin\.tmp$/.test(p));
    expect(snapshotFile).toBeGreaterThan(0);
    for (const p of paths) {
      const at = synced.indexOf(p);
      expect(at, `${p} fsynced before the snapshot`).toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(snapshotFile);
    }
  };
  const [b0, b1, b2, eos] = workload("q1", "X", 3) as [BrokerMessage, BrokerMessage, BrokerMessage, BrokerMessage];
  const first = (await AggregatorStore.open(dir, q1Reducer, { spillRows: 30, snapshotEvery: 2, fsync })).store;
  await feed(first, [b0, b1]);
  const early = runsOnDisk();
  expect(early.length).toBe(2);
  // Written, and only the log's records fsynced: a run's rows are in those records until a snapshot.
  expect(synced.filter((p) => p.startsWith(join(dir, "spill")))).toEqual([]);
  synced.length = 0;
  expect(await first.maybeSnapshot()).toBe(true);
  durableBeforeSnapshot([...early, spill, join(dir, "spill"), dir]);
  // Written after that snapshot, and left to the log's records: the process dies before another.
  await feed(first, [b2]);
  const late = runsOnDisk().filter((p) => !early.includes(p));
  expect(late.length).toBe(1);
  await first.close();
  synced.length = 0;
  const again = (await AggregatorStore.open(dir, q1Reducer, { spillRows: 30, snapshotEvery: 1, fsync })).store;
  expect(await again.maybeSnapshot()).toBe(true);
  // The replay wrote the late run again; it is durable before the snapshot that now names it.
  durableBeforeSnapshot([...late, spill]);
  await feed(again, [eos]);
  expect(again.state.isComplete("X")).toBe(true);
  expect([...again.state.result("X")].length).toBe(1 + 120);
  await again.close();
});

test("the snapshot waits for its runs' fsyncs, which start when it is asked for", async () => {
  const dir = realpathSync(tempDir());
  const spill = join(dir, "spill");
  const synced: string[] = [];
  const held: (() => void)[] = [];
  let holdRuns = false;
  const fsync = (fd: number): void | Promise<void> => {
    const path = readlinkSync(`/proc/self/fd/${fd}`);
    if (!(holdRuns && path.startsWith(spill))) return void synced.push(path);
    return new Promise<void>((done) => held.push(() => { synced.push(path); done(); }));
  };
  const store = (await AggregatorStore.open(dir, q1Reducer, { spillRows: 30, snapshotEvery: 2, fsync })).store;
  const msgs = workload("q1", "X", 3);
  await feed(store, msgs.slice(0, 2));
  holdRuns = true;
  synced.length = 0;
  const snapshot = store.maybeSnapshot();
  // Asked for at once: two runs, their folder and the spill folder, all under way together.
  expect(held.length).toBe(4);
  for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
  expect(synced.some((p) => p.includes("snapshot-"))).toBe(false);
  for (const release of held.splice(0)) release();
  expect(await snapshot).toBe(true);
  expect(synced.findIndex((p) => p.includes("snapshot-"))).toBeGreaterThan(synced.indexOf(spill));
  await store.close();
});
