/**
 * A worker counts a batch once it is done, i.e. acked on the channel it came on: one whose ack
 * is lost with its channel comes again and is counted then, not twice. Real worker in-process,
 * a scripted transport.
 */
import { expect, test } from "bun:test";
import { createWorker, workUnitFrom } from "../roles/worker.ts";
import { encodeMessage } from "../src/codec.ts";
import { CoffeeMetrics } from "../src/metrics.ts";
import type { Delivery, Transport } from "../src/transport.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";

test("a batch whose first ack did not reach the broker is counted once, at the ack that did", async () => {
  const body = encodeMessage(q1TransactionsBatch("s", 10));
  const acks: boolean[] = [];
  const { promise: bothHandled, resolve: delivered } = Promise.withResolvers<void>();
  const transport: Transport = {
    declare: async () => {},
    close: async () => {},
    publish: async () => {},
    consume: async (_queue, _options, handler) => {
      // The same batch twice: first on a channel lost before the ack, then redelivered.
      for (const landed of [false, true]) {
        const d: Delivery = { body, redelivered: landed, ack: () => { acks.push(landed); return landed; }, nack: () => {} };
        await handler(d);
      }
      delivered();
      return { cancel: async () => {} };
    },
  };
  const metrics = new CoffeeMetrics({ role: "worker", name: "filter-amount" });
  const worker = await createWorker({ unit: workUnitFrom("filter-amount", undefined), prefetch: 1 }, transport, { info() {}, warn() {}, error() {} }, metrics);
  const running = worker.run();
  await bothHandled;
  expect(acks).toEqual([false, true]);
  expect(worker.status()).toMatchObject({ batches: 1 });
  const batches = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === "coffee_batches_total");
  expect(batches?.values.reduce((sum, v) => sum + v.value, 0)).toBe(1);
  await worker.shutdown();
  await running;
});
