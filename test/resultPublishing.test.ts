/**
 * An aggregator publishes a finished session's result a few chunks at a time: never more than
 * eight wait for their broker confirms, so a large Q1 result is not held in memory whole (real
 * aggregator in-process; a memory broker whose result confirms the test releases).
 */
import { afterAll, expect, test } from "bun:test";
import { createAggregator } from "../roles/aggregator.ts";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { allQueues, eosKey, outKey, RESULTS_KEY } from "../src/topology.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { interceptPublishes } from "./interceptedTransport.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const session = "00000000-0000-4000-8000-0000000c4a45";
const base = new MemoryTransport(new MemoryBroker(), "chunks");
await base.declare(allQueues());

/** Result publishes wait here until the test confirms them; everything else goes through. */
const held: { chunk: number; last: boolean; confirm: () => void }[] = [];
let heldChanged: () => void = () => {};
const transport = interceptPublishes(base, RESULTS_KEY, (body) => {
  const m = decodeMessage(body);
  return new Promise<void>((resolve) => {
    held.push({ chunk: m.kind === "result" ? m.chunk : -1, last: m.kind === "result" && m.last, confirm: resolve });
    heldChanged();
  });
});
const aggregator = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir: null }, transport, quiet);
void aggregator.run();
afterAll(() => aggregator.shutdown());

test("a result of many chunks waits for confirms eight chunks at a time, and every chunk goes out once, in order", async () => {
  const rows = 2_000;
  const batch = q1TransactionsBatch(session, rows);
  await base.publish(outKey("filter-amount"), encodeMessage(batch));
  await base.publish(eosKey("transactions"), encodeMessage({ kind: "eos", session, entity: "transactions", count: 1 }));
  // The oldest chunk is confirmed once eight wait (or the last one came): an aggregator that
  // sent more before waiting shows it in `most`.
  let confirmed = 0;
  let most = 0;
  for (;;) {
    while (held.length - confirmed < 8 && !held.some((h) => h.last)) await new Promise<void>((r) => (heldChanged = r));
    most = Math.max(most, held.length - confirmed);
    if (confirmed === held.length) break;
    held[confirmed++]!.confirm();
  }
  expect(held.length).toBeGreaterThan(100);
  expect(most).toBe(8);
  expect(held.map((h) => h.chunk)).toEqual(Array.from({ length: held.length }, (_, i) => i));
});
