import { expect, test } from "bun:test";
import { lastFieldQuoted } from "./csvRecords.ts";

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
