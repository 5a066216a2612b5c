import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { plainToState, stateToPlain } from "./stateCodec.ts";

// As the aggregator store packs snapshots: without msgpackr's typed-array extension.
const packr = new Packr({ useRecords: false });

test("reducer-shaped states survive msgpack with their Maps and key types", () => {
  const state = {
    months: new Map([[202401, new Map([[3, [5, 1250]], [7, [1, 99]]])]]),
    names: new Map([[3, "Latte, large"], [7, ""]]),
    byName: new Map([["a", 1]]),
    ids: ["t1", "t2"],
    cents: Float64Array.of(7500, 12.5),
    keys: Int32Array.of(-2147483648, 7, 1 << 30),
    offsetView: new Int32Array(Int32Array.of(1, 2, 3, 4).buffer, 4, 2),
    nested: { deeper: new Map([[1, { x: new Map([[2, 3]]) }]]) },
  };
  const back = plainToState(packr.unpack(packr.pack(stateToPlain(state)))) as typeof state;
  expect(back).toEqual(state);
  expect(back.months.get(202401)?.get(3)).toEqual([5, 1250]);
  expect([...back.names.keys()]).toEqual([3, 7]);
  expect(back.cents).toBeInstanceOf(Float64Array);
  expect(back.keys).toBeInstanceOf(Int32Array);
  expect([...back.offsetView]).toEqual([2, 3]);
});

test("a state object using the tag key is refused rather than misread later", () => {
  expect(() => stateToPlain({ $map: 1 })).toThrow();
  expect(() => stateToPlain({ $typed: 1 })).toThrow();
});

test("a typed array snapshots cannot carry back (BigInt64Array, DataView) is refused when written, not misread at recovery", () => {
  expect(() => stateToPlain({ big: new BigInt64Array(1) })).toThrow();
  expect(() => stateToPlain(new DataView(new ArrayBuffer(4)))).toThrow();
});
