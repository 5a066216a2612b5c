import { expect, test } from "bun:test";
import type { TransactionsBody } from "./entityBatch.ts";
import { SumOverflowError } from "./errors.ts";
import { packColumn, unpackColumn } from "./textColumn.ts";
import { filterAmount, filterItemsYear, filterTime, filterYear, groupQ2, groupQ3, groupQ4, halfOf } from "./operators.ts";

function tx(rows: [string, number, number, number, number, number][]): TransactionsBody {
  return {
    id: packColumn(rows.map((r) => r[0])), store: Int32Array.from(rows, (r) => r[1]), user: Int32Array.from(rows, (r) => r[2]),
    cents: Float64Array.from(rows, (r) => r[3]), date: Int32Array.from(rows, (r) => r[4]), time: Int32Array.from(rows, (r) => r[5]),
  };
}
const T = (h: number, m: number, s: number): number => h * 3600 + m * 60 + s;

test("filterYear keeps 2024 and 2025 only", () => {
  const out = filterYear(tx([["a", 1, 1, 1, 20231231, 0], ["b", 1, 1, 1, 20240101, 0], ["c", 1, 1, 1, 20251231, 0], ["d", 1, 1, 1, 20260101, 0]]));
  expect(unpackColumn(out.id)).toEqual(["b", "c"]);
  expect(out.store).toBeInstanceOf(Int32Array);
});

test("filterTime includes both window edges", () => {
  const out = filterTime(tx([["a", 1, 1, 1, 20240101, T(5, 59, 59)], ["b", 1, 1, 1, 20240101, T(6, 0, 0)], ["c", 1, 1, 1, 20240101, T(23, 0, 0)], ["d", 1, 1, 1, 20240101, T(23, 0, 1)]]));
  expect(unpackColumn(out.id)).toEqual(["b", "c"]);
});

test("filterAmount keeps >= 75.00", () => {
  const out = filterAmount(tx([["a", 1, 1, 7499, 20240101, 0], ["b", 1, 1, 7500, 20240101, 0], ["c", 1, 1, 7501, 20240101, 0]]));
  expect(unpackColumn(out.id)).toEqual(["b", "c"]);
  expect([...out.cents]).toEqual([7500, 7501]);
});

test("an all-filtered batch is an empty batch, not nothing", () => {
  const out = filterAmount(tx([["a", 1, 1, 1, 20240101, 0]]));
  expect(unpackColumn(out.id)).toEqual([]);
  expect(out.cents.length).toBe(0);
});

test("filterItemsYear and groupQ2 sum per month and item", () => {
  const items = filterItemsYear({ item: Int32Array.of(1, 1, 2, 1), qty: Float64Array.of(2, 3, 1, 9), cents: Float64Array.of(100, 150, 999, 5), date: Int32Array.of(20240105, 20240131, 20240110, 20230105) });
  const g = groupQ2(items);
  const rows = [...g.month].map((m, i) => [m, g.item[i], g.qty[i], g.cents[i]]).sort();
  expect(rows).toEqual([[202401, 1, 5, 250], [202401, 2, 1, 999]]);
});

test("halfOf splits at June/July", () => {
  expect(halfOf(20240630)).toBe(20241);
  expect(halfOf(20240701)).toBe(20242);
});

test("groupQ3 sums per half and store", () => {
  const g = groupQ3(tx([["a", 1, 1, 100, 20240101, 0], ["b", 1, 2, 250, 20240601, 0], ["c", 1, 2, 7, 20240701, 0], ["d", 2, 2, 1, 20240101, 0]]));
  const rows = [...g.half].map((h, i) => [h, g.store[i], g.cents[i]]).sort();
  expect(rows).toEqual([[20241, 1, 350], [20241, 2, 1], [20242, 1, 7]]);
});

test("groupQ4 counts per store and user, ignoring missing users", () => {
  const g = groupQ4(tx([["a", 1, 5, 0, 20240101, 0], ["b", 1, 5, 0, 20240101, 0], ["c", 1, -1, 0, 20240101, 0], ["d", 2, 5, 0, 20240101, 0]]));
  const rows = [...g.store].map((s, i) => [s, g.user[i], g.count[i]]).sort();
  expect(rows).toEqual([[1, 5, 2], [2, 5, 1]]);
});

test("groupQ3 and groupQ4 keep ids apart at the top of their range (31-bit stores and users)", () => {
  const big = 2 ** 31 - 1;
  const q4 = groupQ4(tx([["a", 4_194_305, 1, 0, 20240101, 0], ["b", 4_194_305, 0, 0, 20240101, 0], ["c", big, big, 0, 20240101, 0], ["d", big, big - 1, 0, 20240101, 0], ["e", big, big, 0, 20240101, 0]]));
  expect([...q4.store].map((s, i) => [s, q4.user[i], q4.count[i]]).sort()).toEqual([[2147483647, 2147483646, 1], [2147483647, 2147483647, 2], [4194305, 0, 1], [4194305, 1, 1]]);
  const q3 = groupQ3(tx([["a", big, 1, 5, 99991231, 0], ["b", big - 1, 1, 7, 99991231, 0], ["c", 0, 1, 9, 10000101, 0]]));
  expect([...q3.half].map((h, i) => [h, q3.store[i], q3.cents[i]]).sort()).toEqual([[10001, 0, 9], [99992, 2147483646, 7], [99992, 2147483647, 5]]);
});

/** Rows whose sums pass 2^53: 20 of the largest amount a field may hold, and quantities of 15 digits. */
const AUDIT_ROWS = 20;
const MAX_AMOUNT = Number.MAX_SAFE_INTEGER; // 90071992547409.91 in cents
const BIG_QTY = 900719925474099;

test("groupQ3 fails a batch whose total passes 2^53 - 1 cents instead of rounding it", () => {
  const rows = Array.from({ length: AUDIT_ROWS }, (_, i): [string, number, number, number, number, number] => [`t${i}`, 1, 1, MAX_AMOUNT, 20240101, T(12, 0, 0)]);
  expect(() => groupQ3(tx(rows))).toThrow(SumOverflowError);
  // Up to the limit the total is exact: 45035996273704.95 + 45035996273704.96.
  const g = groupQ3(tx([["a", 1, 1, 4503599627370495, 20240101, 0], ["b", 1, 1, 4503599627370496, 20240101, 0]]));
  expect([...g.cents]).toEqual([MAX_AMOUNT]);
});

test("groupQ2 fails a batch whose subtotal or quantity total passes 2^53 - 1 instead of rounding it", () => {
  const items = (qty: number, cents: number, rows: number) => ({
    item: new Int32Array(rows).fill(1), qty: new Float64Array(rows).fill(qty), cents: new Float64Array(rows).fill(cents), date: new Int32Array(rows).fill(20240101),
  });
  expect(() => groupQ2(items(1, MAX_AMOUNT, AUDIT_ROWS))).toThrow(SumOverflowError);
  // 11 quantities of 15 digits pass 2^53 - 1; 10 of them (9007199254740990) do not.
  expect(() => groupQ2(items(BIG_QTY, 1, 11))).toThrow(SumOverflowError);
  const g = groupQ2(items(BIG_QTY, 1, 10));
  expect([...g.qty]).toEqual([9007199254740990]);
});
