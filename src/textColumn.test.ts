import { expect, test } from "bun:test";
import { ColumnBuilder } from "./columnBuilder.ts";
import { columnProblem, packColumn, rowsWithLongFields, selectFields, unpackColumn } from "./textColumn.ts";

const FIELDS = ["Café Centro", "", "7", "naïve, \"quoted\"", "☕ 2024", "x".repeat(70_000)];

test("fields round-trip as UTF-8, ends counted in bytes", () => {
  const column = packColumn(FIELDS);
  expect(unpackColumn(column)).toEqual(FIELDS);
  expect(column.ends[0]).toBe(Buffer.byteLength("Café Centro"));
  expect(column.bytes.length).toBe(FIELDS.reduce((n, f) => n + Buffer.byteLength(f), 0));
});

test("the builder gives the same column from strings and from bytes, and is empty after finish", () => {
  const fromStrings = new ColumnBuilder();
  const fromBytes = new ColumnBuilder();
  for (const f of FIELDS) {
    fromStrings.pushString(f);
    const bytes = Buffer.from(`,${f},`);
    fromBytes.pushBytes(bytes, 1, bytes.length - 1);
  }
  const a = fromStrings.finish();
  expect(a).toEqual(fromBytes.finish());
  expect(unpackColumn(a)).toEqual(FIELDS);
  fromStrings.pushString("again");
  expect(unpackColumn(fromStrings.finish())).toEqual(["again"]);
  // finish hands out copies: the builder's reuse does not change a finished column.
  expect(unpackColumn(a)).toEqual(FIELDS);
});

test("selectFields keeps the given rows in order", () => {
  const column = packColumn(FIELDS);
  expect(unpackColumn(selectFields(column, [4, 0, 1]))).toEqual(["☕ 2024", "Café Centro", ""]);
  expect(selectFields(column, []).bytes.length).toBe(0);
  expect(selectFields(column, []).ends).toEqual(new Uint32Array(0));
});

test("columnProblem names what is wrong with a column from the wire", () => {
  const ok = packColumn(["ab", "c"]);
  expect(columnProblem(ok, 2)).toBeNull();
  expect(columnProblem(ok, 3)).toContain("must hold 3 fields");
  expect(columnProblem({ text: "abc", ends: ok.ends }, 2)).toContain("bytes: Uint8Array");
  expect(columnProblem({ bytes: "abc", ends: ok.ends }, 2)).toContain("bytes: Uint8Array");
  expect(columnProblem({ bytes: ok.bytes, ends: Uint32Array.of(2, 1) }, 2)).toContain("must not decrease");
  expect(columnProblem({ bytes: ok.bytes, ends: Uint32Array.of(1, 2) }, 2)).toContain("stop at 2, its bytes are 3");
  expect(columnProblem({ ...ok, extra: 1 }, 2)).toContain("exactly the keys");
  expect(columnProblem([ok.bytes, ok.ends], 2)).toContain("must be {bytes, ends}");
});

test("rows with a field over the limit are marked, in any column; none marked is null", () => {
  const names = packColumn(["short", "x".repeat(70_000), "ok"]);
  const ids = packColumn(["1", "2", "3".repeat(11)]);
  expect(rowsWithLongFields([ids, names], 3, 65_536)).toEqual(Uint8Array.from([0, 1, 0]));
  expect(rowsWithLongFields([ids, names], 3, 10)).toEqual(Uint8Array.from([0, 1, 1]));
  expect(rowsWithLongFields([ids, names], 3, 70_000)).toBeNull();
});
