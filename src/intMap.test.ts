import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { createIntMap, EMPTY, intMapForEach, intMapGet, intMapProbes, intMapSet, type IntMap } from "./intMap.ts";
import { InternalError } from "./errors.ts";
import { plainToState, stateToPlain } from "./stateCodec.ts";

/** Add `delta` to `key`'s value, as Q4's reducer counts (absent counts as 0). */
function intMapAdd(m: IntMap, key: number, delta: number): void {
  intMapSet(m, key, (intMapGet(m, key) ?? 0) + delta);
}

test("behaves like a Map on 200 000 random operations, through growth and collisions", () => {
  const m = createIntMap(4);
  const ref = new Map<number, number>();
  let seed = 7;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 200_000; i++) {
    // Keys from a small range (many repeats) and from all of int32 (collisions after masking).
    const key = i % 3 === 0 ? (next() | 0) : next() % 5000;
    if (key === EMPTY) continue;
    if (next() % 4 === 0) { intMapSet(m, key, i); ref.set(key, i); }
    else { intMapAdd(m, key, 1); ref.set(key, (ref.get(key) ?? 0) + 1); }
  }
  expect(m.size).toBe(ref.size);
  for (const [k, v] of ref) expect(intMapGet(m, k)).toBe(v);
  expect(intMapGet(m, 123_456_789)).toBeUndefined();
  const seen = new Map<number, number>();
  intMapForEach(m, (k, v) => seen.set(k, v));
  expect(seen).toEqual(ref);
});

test("travels through a snapshot as plain typed arrays", () => {
  const m = createIntMap();
  for (let u = 0; u < 1000; u++) intMapAdd(m, u * 7, u);
  const packr = new Packr({ useRecords: false });
  const back = plainToState(packr.unpack(packr.pack(stateToPlain({ m })))) as { m: typeof m };
  for (let u = 0; u < 1000; u++) expect(intMapGet(back.m, u * 7)).toBe(u);
  intMapAdd(back.m, 7, 5);
  expect(intMapGet(back.m, 7)).toBe(6);
});

test("the free-slot marker is refused as a key", () => {
  expect(() => intMapSet(createIntMap(), EMPTY, 1)).toThrow(InternalError);
});

test("keys that share their low bits spread out (no long probe runs)", () => {
  const m = createIntMap();
  for (let i = 1; i <= 131_071; i++) intMapAdd(m, i * 16384, 1);
  expect(m.size).toBe(131_071);
  let probes = 0;
  for (let i = 1; i <= 131_071; i++) probes += intMapProbes(m, i * 16384);
  // Linear probing at under half load averages ~1.5; the low-bits hash averaged thousands here.
  expect(probes / 131_071).toBeLessThan(3);
});

test("a corrupt map (no free slot) is an error, never an endless probe", () => {
  const full = { keys: Int32Array.of(1, 2, 3, 4), values: new Int32Array(4), size: 4 };
  expect(() => intMapGet(full, 9)).toThrow(/corrupt/);
});
