/**
 * Dimension rows (stores, menu_items, users) that list an id twice: the greater value is kept
 * (the name last in code-unit order, the later birthdate, any birthdate over an empty one), so a
 * report never depends on the order rows arrive in (replicas, redeliveries, file order).
 */
import { intMapGet, intMapSet, type IntMap } from "../intMap.ts";

/** Set `id` to `value` unless it holds a greater value already. */
export function keepGreater<V extends string | number>(map: Map<number, V>, id: number, value: V): void {
  const held = map.get(id);
  if (held === undefined || value > held) map.set(id, value);
}

/** keepGreater for a typed-array map of numbers. */
export function keepGreaterInt(map: IntMap, id: number, value: number): void {
  const held = intMapGet(map, id);
  if (held === undefined || value > held) intMapSet(map, id, value);
}
