/**
 * An int32 → int32 hash map on two typed arrays (open addressing, linear probing), as plain data
 * so snapshots carry it as two byte arrays. Q4 keeps a count per (store, user) and a birthdate per
 * user: millions of keys at full scale, where a JS Map costs ~100 bytes a key and this ~16.
 */

import { InternalError } from "./errors.ts";

/** The map: `keys[i] === EMPTY` marks a free slot; capacity is a power of two. */
export interface IntMap {
  keys: Int32Array;
  values: Int32Array;
  size: number;
}

/** Marks a free slot; the one key the map cannot hold. */
export const EMPTY = -2147483648;

/** A map with room for about `expected` keys before it grows. */
export function createIntMap(expected = 16): IntMap {
  let capacity = 16;
  while (capacity < expected * 2) capacity *= 2;
  return { keys: new Int32Array(capacity).fill(EMPTY), values: new Int32Array(capacity), size: 0 };
}

/** Where `key`'s probe starts. */
function homeSlot(m: IntMap, key: number): number {
  // The high bits of the product depend on every bit of the key: keys that share their low
  // bits (multiples of 16384, say) still spread over the table.
  return Math.imul(key, 0x9e3779b1) >>> (32 - Math.log2(m.keys.length));
}

function slotOf(m: IntMap, key: number): number {
  const capacity = m.keys.length;
  const mask = capacity - 1;
  let i = homeSlot(m, key);
  for (let probes = 0; probes < capacity; probes++) {
    const k = m.keys[i]!;
    if (k === key || k === EMPTY) return i;
    i = (i + 1) & mask;
  }
  // Never at half load: only a map that was not built here (a corrupt snapshot) gets here.
  throw new InternalError(`IntMap of ${capacity} slots has no room for ${key}: corrupt`);
}

function grow(m: IntMap): void {
  const { keys, values } = m;
  m.keys = new Int32Array(keys.length * 2).fill(EMPTY);
  m.values = new Int32Array(keys.length * 2);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === EMPTY) continue;
    const j = slotOf(m, keys[i]!);
    m.keys[j] = keys[i]!;
    m.values[j] = values[i]!;
  }
}

/** Slots visited to find `key` (1 = its home slot): how well the hash spreads, for tests. */
export function intMapProbes(m: IntMap, key: number): number {
  return ((slotOf(m, key) - homeSlot(m, key)) & (m.keys.length - 1)) + 1;
}

/** The value of `key`, or undefined. */
export function intMapGet(m: IntMap, key: number): number | undefined {
  const i = slotOf(m, key);
  return m.keys[i] === EMPTY ? undefined : m.values[i]!;
}

/** Set `key` to `value`. */
export function intMapSet(m: IntMap, key: number, value: number): void {
  if (key === EMPTY) throw new InternalError(`IntMap cannot hold the key ${EMPTY}`);
  // Grow at half full: probes stay short.
  if ((m.size + 1) * 2 > m.keys.length) grow(m);
  const i = slotOf(m, key);
  if (m.keys[i] === EMPTY) {
    m.keys[i] = key;
    m.size++;
  }
  m.values[i] = value;
}

/** Every entry, in slot order. */
export function intMapForEach(m: IntMap, fn: (key: number, value: number) => void): void {
  for (let i = 0; i < m.keys.length; i++) if (m.keys[i] !== EMPTY) fn(m.keys[i]!, m.values[i]!);
}
