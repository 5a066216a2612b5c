/**
 * Shutting a stateful role down twice (a signal handler and a supervisor, say) is a no-op the
 * second time. It once committed to the closed log, which the group commit took for a storage
 * failure: process.exit(70), which here would end the test runner itself. And an aggregator
 * stopped while it finishes a session finishes it, and handles none of the deliveries queued
 * behind it (they once reached the closed log: exit 70 again).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createAggregator } from "../roles/aggregator.ts";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { AggregatorStore } from "../src/aggregatorStore.ts";
import { decodeMessage, encodeMessage, type BrokerMessage } from "../src/codec.ts";
import { q3Reducer } from "../src/queries/q3.ts";
import { allQueues, dataKey, eosKey, outKey, RESULTS_KEY } from "../src/topology.ts";
import type { Transport } from "../src/transport.ts";
import { tempDir } from "./harness.ts";
import { interceptPublishes } from "./interceptedTransport.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** `base` with result publishes unconfirmed until `release`; `resultPublished` resolves at the first. */
function resultsHeld(base: Transport): { transport: Transport; resultPublished: Promise<void>; release: () => void } {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const { promise: resultPublished, resolve: publishing } = Promise.withResolvers<void>();
  const transport = interceptPublishes(base, RESULTS_KEY, () => {
    publishing();
    return released;
  });
  return { transport, resultPublished, release };
}

test("a gateway and an aggregator with state directories shut down twice, and their state opens again", async () => {
  const state = tempDir("shutdown");
  dirs.push(state);
  const broker = new MemoryBroker();
  const transport = async (): Promise<MemoryTransport> => {
    const t = new MemoryTransport(broker, "shutdown");
    await t.declare(allQueues());
    return t;
  };
  const cfg = defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: join(state, "gateway") });
  for (let round = 0; round < 2; round++) {
    const gateway = await createGateway(cfg, await transport(), silent);
    const aggregator = await createAggregator({ query: "q2", prefetch: 8, chunkBytes: 512, stateDir: join(state, "agg-q2") }, await transport(), silent);
    void gateway.run();
    void aggregator.run();
    await gateway.listening;
    const stopping = gateway.shutdown();
    expect(gateway.shutdown()).toBe(stopping);
    await stopping;
    await gateway.shutdown();
    const aggregatorStopping = aggregator.shutdown();
    expect(aggregator.shutdown()).toBe(aggregatorStopping);
    await aggregatorStopping;
    await aggregator.shutdown();
  }
});

test("an aggregator stopped while it publishes a result finishes that session and handles nothing queued behind it", async () => {
  const state = tempDir("shutdown-queued");
  dirs.push(state);
  const errors: unknown[] = [];
  const base = new MemoryTransport(new MemoryBroker(), "queued", (err) => errors.push(err));
  await base.declare(allQueues());
  // The completing session's handler waits on its result's confirm.
  const { transport, resultPublished, release } = resultsHeld(base);
  const logged: string[] = [];
  const log: Logger = { info: () => {}, warn: () => {}, error: (m) => logged.push(m) };
  const aggregator = await createAggregator({ query: "q3", prefetch: 64, chunkBytes: 512, stateDir: join(state, "agg-q3") }, transport, log);
  void aggregator.run();
  const done = "00000000-0000-4000-8000-00000000d0e1";
  const open = "00000000-0000-4000-8000-00000000beef";
  const partial = (session: string, seq: number): Uint8Array => encodeMessage({
    kind: "data", session, entity: "transactions", seq, bodyKind: "q3-partial",
    body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100) },
  });
  await base.publish(dataKey("stores"), encodeMessage({ kind: "data", session: done, entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1), name: ["Centro"] } }));
  await base.publish(eosKey("stores"), encodeMessage({ kind: "eos", session: done, entity: "stores", count: 1 }));
  await base.publish(outKey("group-q3"), partial(done, 0));
  await base.publish(eosKey("transactions"), encodeMessage({ kind: "eos", session: done, entity: "transactions", count: 1 }));
  // Queued behind the handler publishing `done`'s result.
  for (let seq = 0; seq < 20; seq++) await base.publish(outKey("group-q3"), partial(open, seq));
  await resultPublished;
  const stopping = aggregator.shutdown();
  release();
  await stopping;
  expect(errors).toEqual([]);
  expect(logged).toEqual([]);
  // The log holds `done` finished, and none of what was queued behind it.
  const reopened = await createAggregator({ query: "q3", prefetch: 64, chunkBytes: 512, stateDir: join(state, "agg-q3") }, base, log);
  expect(reopened.status()).toMatchObject({ sessions: 0 });
  await reopened.shutdown();
});

test("an aggregator stopped while it publishes, at start, a result it had not published before it stopped finishes that one and consumes nothing", async () => {
  const state = tempDir("shutdown-republish");
  dirs.push(state);
  const session = "00000000-0000-4000-8000-00000000f00d";
  // A session complete in the log but never published: the aggregator stopped right after its last batch.
  const { store } = await AggregatorStore.open(join(state, "agg-q3"), q3Reducer);
  for (const m of [
    { kind: "data", session, entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1), name: ["Centro"] } },
    { kind: "eos", session, entity: "stores", count: 1 },
    { kind: "data", session, entity: "transactions", seq: 0, bodyKind: "q3-partial", body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(100) } },
    { kind: "eos", session, entity: "transactions", count: 1 },
  ] as BrokerMessage[]) {
    const raw = encodeMessage(m);
    store.state.apply(decodeMessage(raw));
    store.logMessage(raw);
  }
  await store.commit();
  await store.close();

  const base = new MemoryTransport(new MemoryBroker(), "republish");
  await base.declare(allQueues());
  const held = resultsHeld(base);
  const { resultPublished, release } = held;
  let consumed = false;
  const transport: Transport = { ...held.transport, consume: (q, o, h) => { consumed = true; return held.transport.consume(q, o, h); } };
  const logged: string[] = [];
  const log: Logger = { info: () => {}, warn: () => {}, error: (m) => logged.push(m) };
  const aggregator = await createAggregator({ query: "q3", prefetch: 8, chunkBytes: 512, stateDir: join(state, "agg-q3") }, transport, log);
  const running = aggregator.run();
  await resultPublished;
  const stopping = aggregator.shutdown();
  release();
  await stopping;
  await running;
  expect(logged).toEqual([]);
  expect(consumed).toBe(false);
  // Logged finished before the log closed: not published a second time at the next start.
  const again = await AggregatorStore.open(join(state, "agg-q3"), q3Reducer);
  expect(again.store.state.completeSessions()).toEqual([]);
  await again.store.close();
});
