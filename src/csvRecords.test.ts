import { expect, test } from "bun:test";
import { lastFieldQuoted, scanRecords } from "./csvRecords.ts";

/** Just past the last complete record of `text` (0: none), as the reader cuts chunks. */
const lastRecordEnd = (text: string): number => scanRecords(text, 0, "\n", false).end;

test("lastFieldQuoted: whether a record's last field opened with a quote (`\"\"` escaped inside, literal in an unquoted field)", () => {
  const quoted = (record: string): boolean => lastFieldQuoted(record, 0, record.length);
  expect(quoted('1,"a"\n')).toBe(true);
  expect(quoted('1,"a,b"\n')).toBe(true);
  expect(quoted('"x",b\n')).toBe(false);
  expect(quoted('1,a"b"\n')).toBe(false);
  expect(quoted('1,"a""",\n')).toBe(false);
  expect(quoted('1,"a"",b"\n')).toBe(true);
  expect(quoted("1,\n")).toBe(false);
});

test("scanRecords: chunks are cut only after complete records", () => {
  expect(lastRecordEnd("a,b\nc,d")).toBe(4);
  expect(lastRecordEnd("a,b")).toBe(0);
  expect(lastRecordEnd('a,"b\nc"\nd')).toBe(8);
  expect(lastRecordEnd('a,"b\nc')).toBe(0);
  expect(scanRecords('a,"b\nc', 0, "\n", false)).toMatchObject({ open: true, broken: false });
  // A broken quote stops the scan at its record, and says where it broke.
  expect(scanRecords('1,a\n2,"b"c\n3,d\n', 0, "\n", false)).toEqual({ end: 4, broken: true, brokeAt: 9, open: false });
  expect(lastRecordEnd('a,"x""\n""y"\n')).toBe(12);
  // A quote inside an unquoted field is data, as papaparse reads it.
  expect(lastRecordEnd('a,5" pipe\nb')).toBe(10);
});
