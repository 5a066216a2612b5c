import { fullGC, heapSize } from "bun:jsc";
import { expect, test } from "bun:test";
import { governedTransport, startHeapGovernor, type HeapGovernor } from "./heapGovernor.ts";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";

test("collects above the limit, and not again while the live heap stays put", async () => {
  // Live data well above a 1 MB limit: one collection is useful, repeating it every tick is not.
  const live = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `row ${i}` }));
  const governor = startHeapGovernor(1, 10);
  const ticks = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n * 10 + 5));
  await ticks(5);
  const first = governor.collections;
  expect(first).toBeGreaterThanOrEqual(1);
  await ticks(10);
  expect(governor.collections).toBeLessThanOrEqual(first + 1);
  governor.stop();
  expect(live.length).toBe(200_000);
});

test("a limit of 0 never collects", async () => {
  const governor = startHeapGovernor(0, 5);
  await new Promise((r) => setTimeout(r, 30));
  expect(governor.collections).toBe(0);
  governor.stop();
});

test("bytes of batches that passed count toward the limit, and a collection starts the count over", () => {
  // A limit well above the heap as it is after a collection, and a timer that never fires here.
  fullGC();
  const limitMb = Math.ceil(heapSize() / 1_048_576) + 32;
  const governor = startHeapGovernor(limitMb, 3_600_000);
  governor.check(1_048_576);
  expect(governor.collections).toBe(0);
  governor.check(40 * 1_048_576);
  expect(governor.collections).toBe(1);
  // The 41 MiB counted before are forgotten: one more MiB is not enough again.
  governor.check(1_048_576);
  expect(governor.collections).toBe(1);
  governor.stop();
});

test("a governed transport counts every publish and every delivery, body bytes each", async () => {
  const broker = new MemoryBroker();
  const inner = new MemoryTransport(broker, "gov");
  await inner.declare([{ name: "q", bindings: ["k"] }]);
  const counted: number[] = [];
  const governor: HeapGovernor = { collections: 0, check: (bytes = 0) => void counted.push(bytes), stop() {} };
  const t = governedTransport(inner, governor);
  const seen: number[] = [];
  const done = new Promise<void>((resolve) => {
    void t.consume("q", { prefetch: 4, concurrent: false }, (d) => {
      seen.push(d.body.length);
      d.ack();
      if (seen.length === 2) resolve();
    });
  });
  await t.publish("k", new Uint8Array(3));
  await t.publish("k", new Uint8Array(5));
  await done;
  expect(seen).toEqual([3, 5]);
  expect(counted.slice().sort((a, b) => a - b)).toEqual([3, 3, 5, 5]);
  await t.close();
});

test("a governed transport keeps the optional capabilities of the one it wraps, and adds none", async () => {
  const inner = new MemoryTransport(new MemoryBroker(), "caps");
  const governor: HeapGovernor = { collections: 0, check() {}, stop() {} };
  const plain = governedTransport(inner, governor);
  expect(typeof plain.queueDepths).toBe("function");
  expect(plain.probePublish).toBeUndefined();
  let probes = 0;
  const probing = governedTransport(Object.assign(Object.create(inner) as MemoryTransport, { probePublish: async () => void probes++ }), governor);
  await probing.probePublish!();
  expect(probes).toBe(1);
});
