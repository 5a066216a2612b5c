import { expect, test } from "bun:test";
import { BodyArena } from "./bodyArena.ts";
import { parseEntityRows } from "./entityBatch.ts";
import { packColumn, unpackColumn, type TextColumn } from "./textColumn.ts";

const columns = (rows: string[][]) => rows[0]!.map((_, c) => packColumn(rows.map((r) => r[c]!)));

test("transactions: a rejected row leaves the id column with the other rows' ids", () => {
  const cols = columns([
    ["t-1", "1", "", "75.0", "2024-01-01 10:00:00"],
    ["t-2", "x", "3", "75.0", "2024-01-01 10:00:00"],
    ["t-3", "2", "4.0", "12.25", "2025-12-31 23:59:59"],
  ]);
  const { body, rejected } = parseEntityRows("transactions", cols, 3);
  expect(rejected).toEqual([1]);
  expect(unpackColumn(body.id)).toEqual(["t-1", "t-3"]);
  expect([...body.user]).toEqual([-1, 4]);
  expect([...body.cents]).toEqual([7500, 1225]);
  expect([...body.time]).toEqual([36000, 86399]);
});

test("transactions without rejects pass the batch's own id column on", () => {
  const cols = columns([["t-1", "1", "", "75.0", "2024-01-01 10:00:00"]]);
  const id = parseEntityRows("transactions", cols, 1).body.id;
  expect(id.ends).toBe(cols[0]!.ends);
  expect(id.bytes.buffer).toBe(cols[0]!.bytes.buffer);
});

test("users: birthdates become yyyymmdd, empty is 0, a non-date rejects the row", () => {
  const { body, rejected } = parseEntityRows("users", columns([["1", "1969-12-31"], ["2", ""], ["3", "1969-02-30"], ["4", "1969-1-1"]]), 4);
  expect(rejected).toEqual([2, 3]);
  expect([...body.user]).toEqual([1, 2]);
  expect([...body.birth]).toEqual([19691231, 0]);
});

test("names stay strings, non-ASCII included; an empty name is data", () => {
  const { body, rejected } = parseEntityRows("stores", columns([["1", "Café Centro"], ["z", "bad"], ["3", ""]]), 3);
  expect(rejected).toEqual([1]);
  expect(body.name).toEqual(["Café Centro", ""]);
  expect([...body.id]).toEqual([1, 3]);
});

test("bodies typed into an arena equal fresh ones, rejects cut as views of the arena", () => {
  const rows = [
    ["1", "2.0", "7.5", "2024-03-01 08:00:00"],
    ["x", "1", "1", "2024-03-01 08:00:00"],
    ["3", "1", "12.25", "2024-12-31 23:59:59"],
  ];
  const arena = new BodyArena(64);
  arena.int32(5).fill(-9); // what a previous batch left behind
  arena.reset();
  const inArena = parseEntityRows("transaction_items", columns(rows), 3, arena);
  const fresh = parseEntityRows("transaction_items", columns(rows), 3);
  expect(inArena.rejected).toEqual([1]);
  for (const key of ["item", "qty", "cents", "date"] as const) {
    expect([...inArena.body[key]]).toEqual([...fresh.body[key]]);
  }
  expect([...inArena.body.item]).toEqual([1, 3]);
});

/** A column of raw byte fields: what any client could send, UTF-8 or not. */
const rawColumn = (fields: number[][]): TextColumn => {
  const ends = new Uint32Array(fields.length);
  let at = 0;
  fields.forEach((f, i) => { at += f.length; ends[i] = at; });
  return { bytes: Buffer.from(fields.flat()), ends };
};
const bytesOf = (text: string): number[] => [...Buffer.from(text)];

test("text fields that are not UTF-8 reject their row as the client's reader does, with that reason; a U+FFFD is a character", () => {
  const names = rawColumn([bytesOf("ok"), [0x41, 0xff, 0xfe], bytesOf("a\uFFFDb"), bytesOf("Café"), [0xc3], [0xa9]]);
  const stores = parseEntityRows("stores", [packColumn(["1", "2", "3", "4", "5", "6"]), names], 6);
  expect(stores.rejected).toEqual([1, 4, 5]);
  expect(stores.body.name).toEqual(["ok", "a\uFFFDb", "Café"]);
  expect(new Set(stores.reasons)).toEqual(new Set(["store_name holds bytes that are not UTF-8"]));
  const ids = rawColumn([bytesOf("t-1"), [0x74, 0x80]]);
  const cols = [ids, ...columns([["1", "", "75.0", "2024-01-01 10:00:00"], ["1", "", "75.0", "2024-01-01 10:00:00"]])];
  const tx = parseEntityRows("transactions", cols, 2);
  expect(tx.rejected).toEqual([1]);
  expect(tx.reasons).toEqual(["transaction_id holds bytes that are not UTF-8"]);
});
