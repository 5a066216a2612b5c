import { expect, test } from "bun:test";
import { BodyArena } from "./bodyArena.ts";

test("columns of one batch never overlap, and Float64 columns are 8-aligned after odd Int32 ones", () => {
  const arena = new BodyArena(64);
  const a = arena.int32(3);
  const b = arena.float64(2);
  const c = arena.int32(1);
  expect(b.byteOffset % 8).toBe(0);
  a.fill(-1);
  b.fill(2.5);
  c.fill(7);
  expect([...a]).toEqual([-1, -1, -1]);
  expect([...b]).toEqual([2.5, 2.5]);
  expect([...c]).toEqual([7]);
});

test("reset hands the same memory to the next batch instead of allocating", () => {
  const arena = new BodyArena(256);
  const first = arena.int32(10);
  arena.reset();
  const second = arena.int32(10);
  expect(second.buffer).toBe(first.buffer);
  expect(second.byteOffset).toBe(first.byteOffset);
});

test("a batch larger than the arena grows it, and columns handed out before keep their values", () => {
  const arena = new BodyArena(32);
  const small = arena.int32(4);
  small.set([1, 2, 3, 4]);
  const big = arena.float64(100);
  big.fill(9);
  expect(arena.capacity).toBeGreaterThanOrEqual(800);
  expect([...small]).toEqual([1, 2, 3, 4]);
  expect(big.buffer).not.toBe(small.buffer);
  arena.reset();
  // The grown buffer is kept: the next batch of that size allocates nothing.
  expect(arena.float64(100).buffer).toBe(big.buffer);
});
