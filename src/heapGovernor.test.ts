import { expect, test } from "bun:test";
import { startHeapGovernor } from "./heapGovernor.ts";

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
