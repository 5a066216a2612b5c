import { expect, test } from "bun:test";
import { csvField, csvLine, formatCents } from "./format.ts";

test("money is the shortest decimal with at least one fractional digit", () => {
  expect(formatCents(7500)).toBe("75.0");
  expect(formatCents(7750)).toBe("77.5");
  expect(formatCents(205373700)).toBe("2053737.0");
  expect(formatCents(1225)).toBe("12.25");
  expect(formatCents(5)).toBe("0.05");
  expect(formatCents(0)).toBe("0.0");
  expect(formatCents(-350)).toBe("-3.5");
});

test("money is exact up to the largest sum coffee adds exactly (2^53 - 1 cents)", () => {
  expect(formatCents(Number.MAX_SAFE_INTEGER)).toBe("90071992547409.91");
  expect(formatCents(-Number.MAX_SAFE_INTEGER)).toBe("-90071992547409.91");
  expect(formatCents(Number.MAX_SAFE_INTEGER - 91)).toBe("90071992547409.0");
  expect(formatCents(Number.MAX_SAFE_INTEGER - 1)).toBe("90071992547409.9");
});

test("CSV fields are quoted only when needed", () => {
  expect(csvField("plain")).toBe("plain");
  expect(csvField("G Coffee @ USJ, 89q")).toBe('"G Coffee @ USJ, 89q"');
  expect(csvField('say "hi"')).toBe('"say ""hi"""');
  expect(csvLine(["a", "b,c", ""])).toBe('a,"b,c",\n');
});
