import { expect, test } from "bun:test";
import type { DataMessage } from "../codec.ts";
import { SumOverflowError } from "../errors.ts";
import { MAX_COUNT } from "../exactSum.ts";
import { q4Reducer } from "./q4.ts";

/** A q4-partial of one (store 1, user 7) row of `count` transactions. */
const partial = (seq: number, count: number): DataMessage => ({
  kind: "data", session: "s", entity: "transactions", seq, bodyKind: "q4-partial",
  body: { store: Int32Array.of(1), user: Int32Array.of(7), count: Float64Array.of(count) },
} as DataMessage);

const stores: DataMessage = { kind: "data", session: "s", entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1), name: ["S"] } } as DataMessage;
const users: DataMessage = { kind: "data", session: "s", entity: "users", seq: 0, bodyKind: "users", body: { user: Int32Array.of(7, 8), birth: Int32Array.of(19900101, 19800101) } } as DataMessage;

test("counts up to 2^31 - 1 rank as counted; one more fails instead of wrapping to a negative count", () => {
  const state = q4Reducer.create({ spillDir: null });
  q4Reducer.apply(state, stores);
  q4Reducer.apply(state, users);
  // User 8 has one transaction: with a wrapped count user 7 would rank below it.
  q4Reducer.apply(state, { ...partial(0, 1), body: { store: Int32Array.of(1), user: Int32Array.of(8), count: Float64Array.of(1) } } as DataMessage);
  q4Reducer.apply(state, partial(1, MAX_COUNT - 1));
  q4Reducer.apply(state, partial(2, 1));
  expect([...q4Reducer.finish(state)]).toEqual(["store_name,birthdate\n", "S,1990-01-01\n", "S,1980-01-01\n"]);
  expect(() => q4Reducer.apply(state, partial(3, 1))).toThrow(SumOverflowError);
});
