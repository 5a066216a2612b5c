/**
 * Reducer state ↔ msgpack-friendly values, for aggregator snapshots. Reducer states are plain
 * objects, arrays, numbers, strings, typed arrays and Maps (with number or string keys); msgpack
 * has no Map that keeps its key types, so Maps travel as `{ $map: [[key, value], ...] }`.
 * Snapshotting the state instead of the messages that built it keeps a snapshot (and the memory
 * behind it) proportional to distinct keys, not to rows.
 */
import { InternalError } from "./errors.ts";

const MAP_TAG = "$map";

/** `value` with every Map replaced by its tagged entry list. */
export function stateToPlain(value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...value].map(([k, v]) => [k, stateToPlain(v)]) };
  if (Array.isArray(value)) return value.map(stateToPlain);
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === MAP_TAG) throw new InternalError(`state objects must not use the key ${MAP_TAG}`);
    out[k] = stateToPlain(v);
  }
  return out;
}

/** The inverse of stateToPlain. */
export function plainToState(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainToState);
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === MAP_TAG && Array.isArray(entries[0]![1])) {
    return new Map((entries[0]![1] as [unknown, unknown][]).map(([k, v]) => [k, plainToState(v)]));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) out[k] = plainToState(v);
  return out;
}
