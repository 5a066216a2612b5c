import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import type { DataMessage } from "../codec.ts";
import { SumOverflowError } from "../errors.ts";
import { plainToState, stateToPlain } from "../stateCodec.ts";
import { q3Reducer } from "./q3.ts";

/** A q3-partial of one (2024-H1, store 1) row of `cents`. */
const partial = (seq: number, cents: number): DataMessage => ({
  kind: "data", session: "s", entity: "transactions", seq, bodyKind: "q3-partial",
  body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(cents) },
} as DataMessage);

const stores: DataMessage = { kind: "data", session: "s", entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1), name: ["S"] } } as DataMessage;

test("partials summing to 2^53 - 1 cents print exactly", () => {
  const state = q3Reducer.create({ spillDir: null });
  q3Reducer.apply(state, stores);
  q3Reducer.apply(state, partial(0, 4503599627370495));
  q3Reducer.apply(state, partial(1, 4503599627370496));
  expect([...q3Reducer.finish(state)]).toEqual(["year_half_created_at,store_name,tpv\n", "2024-H1,S,90071992547409.91\n"]);
  // A snapshot (the aggregator store's msgpack options) keeps that total exact.
  const packr = new Packr({ useRecords: false });
  const restored = plainToState(packr.unpack(packr.pack(stateToPlain(state)))) as typeof state;
  expect([...q3Reducer.finish(restored)]).toEqual(["year_half_created_at,store_name,tpv\n", "2024-H1,S,90071992547409.91\n"]);
});

test("a TPV past 2^53 cents (20 × 90071992547409.91) fails instead of printing 1801439850948198.08", () => {
  const state = q3Reducer.create({ spillDir: null });
  q3Reducer.apply(state, stores);
  expect(() => {
    for (let seq = 0; seq < 20; seq++) q3Reducer.apply(state, partial(seq, Number.MAX_SAFE_INTEGER));
  }).toThrow(SumOverflowError);
});
