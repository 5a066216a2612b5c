import { expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AggregatorStore } from "../src/aggregatorStore.ts";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { Q1_RUN_ROWS } from "../src/queries/q1.ts";
import { REDUCERS } from "../src/queries/index.ts";
import { allQueues, outKey, PURGE_KEY } from "../src/topology.ts";
import { q1TransactionsBatch } from "../test/brokerMessages.ts";
import { expectHalted } from "../test/haltContract.ts";
import { scratchDirs, until } from "../test/harness.ts";
import { recordingTransport } from "../test/recordingTransport.ts";
import { createAggregator } from "./aggregator.ts";

const QUIET: Logger = { info() {}, warn() {}, error() {} };
const scratch = scratchDirs();

test("a sorted run that cannot be spilled reaches onFatal; the aggregator halts: the batch is not acked, run() rejects with the failure", async () => {
  const stateDir = scratch("aggregator-fatal");
  const session = "00000000-0000-4000-8000-000000005912";
  const broker = new MemoryBroker();
  const base = new MemoryTransport(broker, "fatal");
  await base.declare(allQueues());
  const { transport, acked } = recordingTransport(base);
  const told: unknown[] = [];
  const aggregator = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir }, transport, QUIET, { onFatal: (err) => void told.push(err) });
  const running = aggregator.run();
  // Where this session's runs go is a regular file: the first run cannot be written.
  mkdirSync(join(stateDir, "spill"), { recursive: true });
  writeFileSync(join(stateDir, "spill", session), "in the way");
  await new MemoryTransport(broker, "fatal").publish(outKey("filter-amount"), encodeMessage(q1TransactionsBatch(session, Q1_RUN_ROWS)));

  // The batch stays unacked: a revived aggregator gets it again.
  await expectHalted(running, told, acked, "writing sorted run");
  // Halted is stopped: shutdown has nothing left to wait for.
  await aggregator.shutdown();
});

test("messages for the gateway routed to an aggregator (result, failed, stateLost) are dropped and counted, and fail no session", async () => {
  const broker = new MemoryBroker();
  const base = new MemoryTransport(broker, "misrouted");
  await base.declare(allQueues());
  const { transport, acked } = recordingTransport(base);
  const toGateway: string[] = [];
  await new MemoryTransport(broker, "misrouted").consume("results", { prefetch: 8, concurrent: false }, (d) => void toGateway.push(`${d.body.length} bytes`));
  const aggregator = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir: null }, transport, QUIET);
  const running = aggregator.run();
  const session = "00000000-0000-4000-8000-000000005913";
  const sender = new MemoryTransport(broker, "misrouted");
  await sender.publish(outKey("filter-amount"), encodeMessage({ kind: "result", session, query: "q1", chunk: 0, last: true, csv: "x\n" }));
  await sender.publish(outKey("filter-amount"), encodeMessage({ kind: "failed", session, reason: "elsewhere" }));
  await sender.publish(outKey("filter-amount"), encodeMessage({ kind: "stateLost", query: "q2", reason: "WAL_CORRUPT: elsewhere" }));
  await until("the three messages acked", () => acked.length === 3);
  expect(aggregator.status()).toMatchObject({ malformed: 3, failedSessions: 0 });
  expect(toGateway).toEqual([]);
  await aggregator.shutdown();
  await running;
});

test("a purge that closes the last open session compacts the log (one of a session never held does not), and so does a start on a log whose sessions all ended", async () => {
  const snapshots = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith("snapshot-"));
  const said: string[] = [];
  const log: Logger = { info: (m) => void said.push(m), warn() {}, error() {} };
  const session = "00000000-0000-4000-8000-000000005914";
  const batch = encodeMessage(q1TransactionsBatch(session, 10));
  const purge = encodeMessage({ kind: "purge", session, reason: "its client gave it up" });

  // Live: the purge that ends the only open session compacts at once.
  const live = scratch("aggregator-purge-compacts");
  const broker = new MemoryBroker();
  const base = new MemoryTransport(broker, "purge-compacts");
  await base.declare(allQueues());
  const { transport, acked } = recordingTransport(base);
  const aggregator = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir: live }, transport, log);
  const running = aggregator.run();
  const sender = new MemoryTransport(broker, "purge-compacts");
  // Purges of sessions never held here, while idle: no snapshot for each.
  for (let i = 0; i < 3; i++) await sender.publish(PURGE_KEY, encodeMessage({ kind: "purge", session: `00000000-0000-4000-8000-00000000600${i}`, reason: "never here" }));
  await until("the purges acked", () => acked.length === 3);
  await sender.publish(outKey("filter-amount"), batch);
  await until("the batch acked", () => acked.length === 4);
  expect(snapshots(live)).toEqual([]);
  expect(said).not.toContain("log compacted into a snapshot");
  await sender.publish(PURGE_KEY, purge);
  await until("the purge acked", () => acked.length === 5);
  expect(snapshots(live)).toHaveLength(1);
  expect(said).toContain("log compacted into a snapshot");
  await aggregator.shutdown();
  await running;

  // At start: a log an earlier build left holding only ended sessions.
  const left = scratch("aggregator-start-compacts");
  const { store } = await AggregatorStore.open(left, REDUCERS.q1);
  for (const raw of [batch, purge]) {
    expect(store.state.apply(decodeMessage(raw))).not.toBe("duplicate");
    store.logMessage(raw);
  }
  await store.commit();
  await store.close();
  expect(snapshots(left)).toEqual([]);
  said.length = 0;
  const restarted = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir: left }, transport, log);
  expect(snapshots(left)).toHaveLength(1);
  expect(said).toContain("log compacted into a snapshot at start");
  await restarted.shutdown();
});
