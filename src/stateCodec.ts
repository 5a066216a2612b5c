/**
 * Reducer state ↔ msgpack-friendly values, for aggregator snapshots. Reducer states are plain
 * objects, arrays, numbers, strings, typed arrays and Maps (with number or string keys); msgpack
 * has no Map that keeps its key types, so Maps travel as `{ $map: [[key, value], ...] }`, and
 * typed arrays as `{ $typed: "Int32Array", bytes }`, so what comes back does not depend on how
 * the msgpack encoder treats typed arrays (without its `moreTypes` option an Int32Array would
 * come back as a Uint8Array four times as long).
 * Snapshotting the state instead of the messages that built it keeps a snapshot (and the memory
 * behind it) proportional to distinct keys, not to rows.
 */
import { InternalError } from "./errors.ts";

const MAP_TAG = "$map";
const TYPED_TAG = "$typed";

/** The typed arrays a state may hold, by constructor name. */
const TYPED = { Int32Array, Uint32Array, Float64Array, Int16Array, Uint16Array, Uint8Array, Int8Array, Float32Array } as const;
type TypedName = keyof typeof TYPED;
const isTypedName = (v: unknown): v is TypedName => typeof v === "string" && Object.hasOwn(TYPED, v);

/** `value` with every Map replaced by its tagged entry list. */
export function stateToPlain(value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...value].map(([k, v]) => [k, stateToPlain(v)]) };
  if (Array.isArray(value)) return value.map(stateToPlain);
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    if (!isTypedName(name)) throw new InternalError(`state holds a ${name}, which snapshots do not carry`);
    return { [TYPED_TAG]: name, bytes: new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)) };
  }
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === MAP_TAG || k === TYPED_TAG) throw new InternalError(`state objects must not use the key ${k}`);
    out[k] = stateToPlain(v);
  }
  return out;
}

/** The inverse of stateToPlain. */
export function plainToState(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainToState);
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  const entries = Object.entries(value);
  const tagged = value as { [TYPED_TAG]?: unknown; bytes?: unknown };
  if (entries.length === 2 && isTypedName(tagged[TYPED_TAG]) && tagged.bytes instanceof Uint8Array) {
    // Copied into a fresh buffer: aligned for the element size, and exactly as long as the data.
    return new TYPED[tagged[TYPED_TAG]](new Uint8Array(tagged.bytes).buffer);
  }
  if (entries.length === 1 && entries[0]![0] === MAP_TAG && Array.isArray(entries[0]![1])) {
    return new Map((entries[0]![1] as [unknown, unknown][]).map(([k, v]) => [k, plainToState(v)]));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) out[k] = plainToState(v);
  return out;
}
