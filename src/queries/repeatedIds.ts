/**
 * Dimension rows (stores, menu_items, users) that list an id twice: the greater value is kept
 * (the name last in code point order, the later birthdate, any birthdate over an empty one), so a
 * report never depends on the order rows arrive in (replicas, redeliveries, file order).
 */
import { intMapGet, intMapSet, type IntMap } from "../intMap.ts";
import { compareCodePoints } from "../textOrder.ts";

/** Set `id` to `value` unless it holds a greater value already. */
export function keepGreater<V extends string | number>(map: Map<number, V>, id: number, value: V): void {
  const held = map.get(id);
  if (held === undefined || greater(value, held)) map.set(id, value);
}

/** Numbers by value, text by code points (the order reports sort in). */
function greater<V extends string | number>(value: V, held: V): boolean {
  return typeof value === "string" ? compareCodePoints(value, held as string) > 0 : value > held;
}

/** keepGreater for a typed-array map of numbers. */
export function keepGreaterInt(map: IntMap, id: number, value: number): void {
  const held = intMapGet(map, id);
  if (held === undefined || value > held) intMapSet(map, id, value);
}
