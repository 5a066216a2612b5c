import { expect, test } from "bun:test";
import { BoundedQueue } from "./boundedQueue.ts";

test("a producer waiting on a full queue is let go with false when the consumer closes it", async () => {
  const queue = new BoundedQueue<number>(1);
  expect(await queue.push(1)).toBe(true);
  const waiting = queue.push(2);
  queue.close();
  expect(await waiting).toBe(false);
  expect(await queue.push(3)).toBe(false);
});

test("items come out in order; the producer's failure is thrown once drained; a later close does not hide it", async () => {
  const queue = new BoundedQueue<number>(2);
  const produced = (async () => {
    for (let i = 0; i < 5; i++) await queue.push(i);
    queue.close(new Error("read failed"));
  })();
  const seen: number[] = [];
  const drained = (async () => {
    for await (const n of queue.drain()) seen.push(n);
  })();
  await produced;
  queue.close();
  await expect(drained).rejects.toThrow("read failed");
  expect(seen).toEqual([0, 1, 2, 3, 4]);
});
