import { expect, test } from "bun:test";
import { decodeUtf8 } from "./utf8.ts";

test("a leading U+FEFF is kept, as text stored by coffee holds it", () => {
  const text = "\uFEFF\uFEFFid-ñ";
  expect(decodeUtf8(new TextEncoder().encode(text))).toBe(text);
  expect(decodeUtf8(Buffer.from("plain"))).toBe("plain");
});
