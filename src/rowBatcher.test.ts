import { expect, test } from "bun:test";
import { BAD_BYTE_MARK } from "./badBytes.ts";
import { RowBatcher } from "./rowBatcher.ts";
import { unpackColumn } from "./textColumn.ts";

/** A batcher of stores (store_id, store_name) and the rejects it reported. */
function stores(batchRows: number, batchBytes = Infinity): { b: RowBatcher; rejected: [number, string][] } {
  const rejected: [number, string][] = [];
  return { b: new RowBatcher("s.csv", "stores", (line, reason) => rejected.push([line, reason]), batchRows, batchBytes), rejected };
}

test("the header picks the read columns by name, in their order, whatever else the file holds", () => {
  const { b } = stores(10);
  expect(b.hasHeader).toBe(false);
  b.header(["street", "store_name", "\uFEFFstore_id "]);
  expect(b.hasHeader).toBe(true);
  expect([...b.wanted]).toEqual([-1, 1, 0]);
  b.addStrings(["Main St", "Café", "7"], 2, false);
  b.end(99);
  const [batch] = b.take();
  expect(batch!.columns.map((c) => unpackColumn(c))).toEqual([["7"], ["Café"]]);
  expect(batch).toMatchObject({ file: "s.csv", lines: [2], bytesRead: 99 });
});

test("a header without a read column is a DatasetError naming the file and what it found", () => {
  const { b } = stores(10);
  expect(() => b.header(["store_id", "name\u001b[31m"])).toThrow('s.csv: header has no column "store_name" (found: store_id,name\\x1b[31m)');
  // A needed column twice is refused; an unread one twice is not this reader's business.
  expect(() => b.header(["store_id", "store_name", " store_id"])).toThrow('s.csv: header has column "store_id" twice (fields 1 and 3): which one holds the values is ambiguous');
  expect(() => stores(10).b.header(["x", "store_id", "x", "store_name"])).not.toThrow();
});

test("a row of another width is rejected with both counts", () => {
  const { b, rejected } = stores(10);
  b.header(["store_id", "store_name"]);
  expect(b.fits(2, 2)).toBe(true);
  expect(b.fits(3, 1)).toBe(false);
  expect(b.fits(4, 3)).toBe(false);
  expect(rejected).toEqual([[3, "1 field where the header has 2"], [4, "3 fields where the header has 2"]]);
});

test("bad bytes reject a row only in a column coffee reads, and only when the text was suspect", () => {
  const { b, rejected } = stores(10);
  b.header(["store_id", "store_name", "street"]);
  b.addStrings(["1", "a", `x${BAD_BYTE_MARK}`], 2, true);
  b.addStrings(["2", `b${BAD_BYTE_MARK}`, "y"], 3, true);
  b.end(0);
  expect(rejected).toEqual([[3, "bytes that are not UTF-8"]]);
  expect(b.take()[0]!.lines).toEqual([2]);
});

test("batches are cut at the row cap or once their fields hold the byte budget, and handed out once", () => {
  const byRows = stores(2);
  byRows.b.header(["store_id", "store_name"]);
  for (let r = 0; r < 5; r++) {
    byRows.b.addStrings([String(r), "n"], r + 2, false);
    if (byRows.b.full()) byRows.b.cut(r);
  }
  byRows.b.end(100);
  expect(byRows.b.take().map((x) => [x.lines, x.bytesRead])).toEqual([[[2, 3], 1], [[4, 5], 3], [[6], 100]]);
  expect(byRows.b.take()).toEqual([]);

  // UTF-8 bytes: "é" is two.
  const byBytes = stores(100, 6);
  byBytes.b.header(["store_id", "store_name"]);
  const raw = Buffer.from("1,é2,ab");
  byBytes.b.addBytes(raw, Int32Array.of(0, 2), Int32Array.of(1, 4), 2);
  expect(byBytes.b.full()).toBe(false);
  byBytes.b.addBytes(raw, Int32Array.of(4, 6), Int32Array.of(5, 8), 3);
  expect(byBytes.b.full()).toBe(true);
});
