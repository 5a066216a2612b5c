import { expect, test } from "bun:test";
import type { DataMessage } from "../codec.ts";
import { SumOverflowError } from "../errors.ts";
import { q2Reducer } from "./q2.ts";

/** A q2-partial of one (2024-01, item 1) row per entry of `sums` ([quantity, cents]). */
const partial = (seq: number, sums: readonly [number, number][]): DataMessage => ({
  kind: "data", session: "s", entity: "transaction_items", seq, bodyKind: "q2-partial",
  body: {
    month: new Int32Array(sums.length).fill(202401), item: new Int32Array(sums.length).fill(1),
    qty: Float64Array.from(sums, (s) => s[0]), cents: Float64Array.from(sums, (s) => s[1]),
  },
} as DataMessage);

const names: DataMessage = { kind: "data", session: "s", entity: "menu_items", seq: 0, bodyKind: "menu_items", body: { id: Int32Array.of(1), name: ["Espresso"] } } as DataMessage;

test("partials summing to 2^53 - 1 (cents and units) print exactly", () => {
  const state = q2Reducer.create({ spillDir: null });
  q2Reducer.apply(state, names);
  q2Reducer.apply(state, partial(0, [[4503599627370495, 4503599627370495]]));
  q2Reducer.apply(state, partial(1, [[4503599627370496, 4503599627370496]]));
  expect([...q2Reducer.finish(state)].slice(1)).toEqual([
    "2024-01,Espresso,,90071992547409.91,most_profitable\n",
    "2024-01,Espresso,9007199254740991,,most_sold\n",
  ]);
});

test("totals past 2^53 cents (20 × 90071992547409.91, 20 × 900719925474099) fail instead of printing rounded sums", () => {
  // One worker partial per row, as a worker sends for batches of one row each.
  const subtotals = q2Reducer.create({ spillDir: null });
  const quantities = q2Reducer.create({ spillDir: null });
  const apply = (state: ReturnType<typeof q2Reducer.create>, row: [number, number]): void => {
    for (let seq = 0; seq < 20; seq++) q2Reducer.apply(state, partial(seq, [row]));
  };
  expect(() => apply(subtotals, [1, Number.MAX_SAFE_INTEGER])).toThrow(SumOverflowError);
  expect(() => apply(quantities, [900719925474099, 1])).toThrow(SumOverflowError);
});

test("a first partial already past 2^53 - 1 (no coffee worker sends one) fails too, rather than be kept", () => {
  const state = q2Reducer.create({ spillDir: null });
  expect(() => q2Reducer.apply(state, partial(0, [[2 ** 60, 1]]))).toThrow(SumOverflowError);
  expect(() => q2Reducer.apply(state, partial(1, [[1, 2 ** 60]]))).toThrow(SumOverflowError);
});
