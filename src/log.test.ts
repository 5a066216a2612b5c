import { expect, test } from "bun:test";
import { oneLine } from "./log.ts";

test("oneLine: a peer's newline or terminal escape cannot forge a log line or reach a terminal", () => {
  expect(oneLine("session x\n2099-01-01T00:00:00.000Z gateway INFO ok is unknown")).toBe("session x\\n2099-01-01T00:00:00.000Z gateway INFO ok is unknown");
  expect(oneLine("a\r\u001b[2Jb\u0000\u007f\u009b")).toBe("a\\r\\x1b[2Jb\\x00\\x7f\\x9b");
  expect(oneLine("x\u2028y\u202etxt.exe\u2069")).toBe("x\\u2028y\\u202etxt.exe\\u2069");
  // Text that is only text stays as it is: tabs, accents, CJK, emoji, U+FFFD.
  expect(oneLine("store\tCafé 東京 ☕ \u{1F600} \uFFFD")).toBe("store\tCafé 東京 ☕ \u{1F600} \uFFFD");
});
