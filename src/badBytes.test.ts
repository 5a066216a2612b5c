import { expect, test } from "bun:test";
import { isUtf8 } from "node:buffer";
import { BAD_BYTE_MARK, decodeMarkingBadBytes, encodeKeepingBadBytes } from "./badBytes.ts";

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const M = BAD_BYTE_MARK;

test("each byte outside a UTF-8 character is marked; characters, U+FFFD among them, decode as they are", () => {
  const cases: [number[], string][] = [
    [[...Buffer.from("Caf\uFFFD é ☕ \u{1F375}")], "Caf\uFFFD é ☕ \u{1F375}"],
    [[0x61, 0xff, 0x62], `a${M}b`],
    [[0xc3], M], // cut short
    [[0xc0, 0xaf], `${M}${M}`], // overlong
    [[0xe0, 0x80, 0xaf], `${M}${M}${M}`], // overlong
    [[0xed, 0xa0, 0x80], `${M}${M}${M}`], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], `${M}${M}${M}${M}`], // past U+10FFFF
    [[0xe2, 0x98, 0x41], `${M}${M}A`],
    [[0xef, 0xbb, 0xbf, 0x78], "\uFEFFx"],
  ];
  for (const [bytes, text] of cases) {
    const buf = Buffer.from(bytes);
    expect(decodeMarkingBadBytes(buf, decoder)).toBe(text);
    // The same verdict as the runtime's own check.
    expect(text.includes(M)).toBe(!isUtf8(buf));
  }
});

test("marks survive a round trip back to bytes, and nothing else changes", () => {
  const text = `a${M}b é\uFFFD${M}`;
  const bytes = encodeKeepingBadBytes(text);
  expect(isUtf8(bytes)).toBe(false);
  expect(decodeMarkingBadBytes(bytes, decoder)).toBe(text);
  expect(encodeKeepingBadBytes("plain é")).toEqual(Buffer.from("plain é"));
});
