import { expect, test } from "bun:test";
import type { DataMessage } from "../codec.ts";
import { createIntMap, intMapGet } from "../intMap.ts";
import { q2Reducer } from "./q2.ts";
import { q3Reducer } from "./q3.ts";
import { q4Reducer } from "./q4.ts";
import type { QueryReducer } from "./reducer.ts";
import { keepGreater, keepGreaterInt } from "./repeatedIds.ts";

test("a value listed twice: the greater one is kept, whichever comes first", () => {
  for (const [first, second] of [["Alpha", "Beta"], ["Beta", "Alpha"]] as const) {
    const names = new Map<number, string>();
    keepGreater(names, 1, first);
    keepGreater(names, 1, second);
    expect(names.get(1)).toBe("Beta");
  }
  // Names by code points: a character above U+FFFF is greater than U+FF03 (JavaScript's < says the opposite).
  for (const [first, second] of [["Kopi \u{1F375}", "Kopi \uFF03"], ["Kopi \uFF03", "Kopi \u{1F375}"]] as const) {
    const names = new Map<number, string>();
    keepGreater(names, 1, first);
    keepGreater(names, 1, second);
    expect(names.get(1)).toBe("Kopi \u{1F375}");
  }
  for (const [first, second] of [[0, 19650304], [19650304, 0], [19990909, 19650304]] as const) {
    const births = createIntMap();
    keepGreaterInt(births, 7, first);
    keepGreaterInt(births, 7, second);
    expect(intMapGet(births, 7)).toBe(Math.max(first, second));
  }
});

const message = (entity: DataMessage["entity"], seq: number, bodyKind: DataMessage["bodyKind"], body: unknown): DataMessage =>
  ({ kind: "data", session: "s", entity, seq, bodyKind, body }) as DataMessage;
const stores = (seq: number, id: number, name: string): DataMessage => message("stores", seq, "stores", { id: Int32Array.of(id), name: [name] });

/** A reducer's result after `messages` are applied in order. */
function result(reducer: QueryReducer, messages: DataMessage[]): string[] {
  const state = reducer.create({ spillDir: null });
  for (const m of messages) reducer.apply(state, m);
  return [...reducer.finish(state)];
}

test("Q4: a user or a store listed twice gives the same report in either arrival order", () => {
  const counts = message("transactions", 0, "q4-partial", { store: Int32Array.of(1, 1), user: Int32Array.of(5, 6), count: Float64Array.of(3, 2) });
  const users = (seq: number, birth: number): DataMessage => message("users", seq, "users", { user: Int32Array.of(5), birth: Int32Array.of(birth) });
  const inOrder = result(q4Reducer, [stores(0, 1, "Beta"), stores(1, 1, "Alpha"), users(0, 19650304), users(1, 0), users(2, 19990909), counts]);
  const reversed = result(q4Reducer, [counts, users(2, 19990909), users(1, 0), users(0, 19650304), stores(1, 1, "Alpha"), stores(0, 1, "Beta")]);
  expect(inOrder).toEqual(["store_name,birthdate\n", "Beta,1999-09-09\n", "Beta,\n"]);
  expect(reversed).toEqual(inOrder);
});

test("Q2 and Q3: an item or a store listed twice is named alike in either arrival order", () => {
  const items = (seq: number, name: string): DataMessage => message("menu_items", seq, "menu_items", { id: Int32Array.of(2), name: [name] });
  const sold = message("transaction_items", 0, "q2-partial", { month: Int32Array.of(202401), item: Int32Array.of(2), qty: Float64Array.of(4), cents: Float64Array.of(1200) });
  const q2 = (order: DataMessage[]): string[] => result(q2Reducer, order);
  expect(q2([items(0, "Latte"), items(1, "Espresso"), sold])).toEqual(q2([sold, items(1, "Espresso"), items(0, "Latte")]));
  expect(q2([items(0, "Latte"), items(1, "Espresso"), sold]).join("")).toContain("Latte");

  const tpv = message("transactions", 0, "q3-partial", { store: Int32Array.of(1), half: Int32Array.of(0), cents: Float64Array.of(7500) });
  const q3 = (order: DataMessage[]): string[] => result(q3Reducer, order);
  expect(q3([stores(0, 1, "Beta"), stores(1, 1, "Alpha"), tpv])).toEqual(q3([tpv, stores(1, 1, "Alpha"), stores(0, 1, "Beta")]));
  expect(q3([stores(0, 1, "Beta"), stores(1, 1, "Alpha"), tpv]).join("")).toContain("Beta");
});
