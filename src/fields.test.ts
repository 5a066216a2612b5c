import { expect, test } from "bun:test";
import { parseCents, parseCount, parseDate, parseId, parseOptionalId, parseTimestamp } from "./fields.ts";

test("parseCents is exact", () => {
  expect(parseCents("75.0")).toBe(7500);
  expect(parseCents("75")).toBe(7500);
  expect(parseCents("12.25")).toBe(1225);
  expect(parseCents("0.1")).toBe(10);
  expect(parseCents("-3.5")).toBe(-350);
  expect(parseCents("1.250")).toBe(125);
  expect(parseCents("1.255")).toBeNaN();
  for (const bad of ["", "abc", "1,5", "1.", ".5", "1e3", " 1"]) expect(parseCents(bad)).toBeNaN();
});

test("ids accept the float form of the public dataset", () => {
  expect(parseId("140170.0")).toBe(140170);
  expect(parseId("7")).toBe(7);
  expect(parseId("7.5")).toBeNaN();
  expect(parseId("")).toBeNaN();
  expect(parseOptionalId("")).toBe(-1);
  expect(parseId("99999999999")).toBeNaN();
  expect(parseCount("3.0")).toBe(3);
});

test("dates and timestamps are validated against the calendar", () => {
  expect(parseDate("1969-12-31")).toBe(19691231);
  expect(parseDate("2024-02-29")).toBe(20240229);
  expect(parseDate("2023-02-29")).toBeNaN();
  expect(parseDate("2024-13-01")).toBeNaN();
  expect(parseTimestamp("2024-01-01 23:00:00")).toEqual({ date: 20240101, seconds: 82800 });
  expect(parseTimestamp("2024-01-01 24:00:00")).toBeNull();
  expect(parseTimestamp("2024-01-01T10:00:00")).toBeNull();
  expect(parseTimestamp("2024-01-01 10:00")).toBeNull();
});
