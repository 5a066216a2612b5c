import { expect, test } from "bun:test";
import { decodeMessage, encodeMessage, type BrokerMessage } from "../src/codec.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { allQueues, chainByName, outKey } from "../src/topology.ts";
import { chainUnit } from "../src/workUnit.ts";
import { q1TransactionsBatch } from "../test/brokerMessages.ts";
import { recordingTransport } from "../test/recordingTransport.ts";
import { createWorker } from "./worker.ts";

const QUIET: Logger = { info() {}, warn() {}, error() {} };

test("a fused chain's worker takes on what a split deployment left in its later members' queues: each batch passes the rest of the chain once", async () => {
  const broker = new MemoryBroker();
  const sender = new MemoryTransport(broker, "drain");
  await sender.declare(allQueues());
  // Left by split workers: filter-year's output (in filter-time's and group-q4's queues) and
  // filter-time's (in filter-amount's and group-q3's), each under its own lineage.
  const session = "00000000-0000-4000-8000-000000007001";
  const batch = (seq: number): Uint8Array => encodeMessage({ ...q1TransactionsBatch(session, 3), seq } as BrokerMessage);
  await sender.publish(outKey("filter-year"), batch(0));
  await sender.publish(outKey("filter-time"), batch(1));

  // What reaches the aggregators, by queue: [seq, body kind].
  const reached = new Map<string, [number, string][]>();
  const expected: Record<string, [number, string][]> = { "agg-q1": [[0, "transactions"], [1, "transactions"]], "agg-q3": [[0, "q3-partial"], [1, "q3-partial"]], "agg-q4": [[0, "q4-partial"]] };
  const { promise: allReached, resolve } = Promise.withResolvers<void>();
  const total = Object.values(expected).flat().length;
  let count = 0;
  const reader = new MemoryTransport(broker, "drain");
  for (const queue of Object.keys(expected)) {
    await reader.consume(queue, { prefetch: 8, concurrent: false }, (d) => {
      const msg = decodeMessage(d.body);
      if (msg.kind === "data") reached.set(queue, [...(reached.get(queue) ?? []), [msg.seq, msg.bodyKind]]);
      d.ack();
      if (++count === total) resolve();
    });
  }

  const { promise: allAcked, resolve: ackedAll } = Promise.withResolvers<void>();
  const { transport, acked } = recordingTransport(new MemoryTransport(broker, "drain"), () => void (acked.length === 4 && ackedAll()));
  const worker = await createWorker({ unit: chainUnit(chainByName("transactions")!), prefetch: 2 }, transport, QUIET);
  const running = worker.run();
  await Promise.all([allReached, allAcked]);
  // Four left-over messages (each batch sat in two queues), each taken from its queue once.
  expect(acked.sort()).toEqual(["filter-amount", "filter-time", "group-q3", "group-q4"]);
  for (const value of reached.values()) value.sort(([a], [b]) => a - b);
  expect(Object.fromEntries(reached)).toEqual(expected);
  for (const queue of ["filter-time", "filter-amount", "group-q3", "group-q4"]) expect(broker.depth(`drain.${queue}`)).toBe(0);
  expect(worker.status()).toMatchObject({ batches: 4, malformed: 0 });
  await worker.shutdown();
  await running;
  // Every queue it read is let go at shutdown, the drains as well as the head's.
  const depths = await new MemoryTransport(broker, "drain").queueDepths();
  for (const queue of ["filter-year", "filter-time", "filter-amount", "group-q3", "group-q4"]) expect(depths.find((d) => d.queue === queue)?.consumers).toBe(0);
});
