import { expect, test } from "bun:test";
import { isUtf8 } from "node:buffer";
import { BAD_BYTE_MARK, decodeMarkingBadBytes, encodeKeepingBadBytes } from "./badBytes.ts";

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
    [[0xff, 0xef, 0xbb, 0xbf, 0x41], `${M}\uFEFFA`], // a U+FEFF after a mark is data
    [[0xf0, 0x8f, 0xbf, 0xbf], `${M}${M}${M}${M}`], // overlong
    [[0xf0, 0x9f, 0x8d], `${M}${M}${M}`], // cut short at the end
  ];
  for (const [bytes, text] of cases) {
    const buf = Buffer.from(bytes);
    expect(decodeMarkingBadBytes(buf)).toBe(text);
    // The same verdict as the runtime's own check.
    expect(text.includes(M)).toBe(!isUtf8(buf));
  }
});

test("marks survive a round trip back to bytes, and nothing else changes", () => {
  const text = `a${M}b é\uFFFD${M}`;
  const bytes = encodeKeepingBadBytes(text);
  expect(isUtf8(bytes)).toBe(false);
  expect(decodeMarkingBadBytes(bytes)).toBe(text);
  expect(encodeKeepingBadBytes("plain é")).toEqual(Buffer.from("plain é"));
});

test("random bytes: marked exactly where the runtime's isUtf8 and a strict decoder disagree with them", () => {
  let seed = 7;
  const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const edges = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (let round = 0; round < 20_000; round++) {
    const bytes = Buffer.from(Array.from({ length: 1 + rnd(8) }, () => (rnd(2) ? edges[rnd(edges.length)]! : rnd(256))));
    const text = decodeMarkingBadBytes(bytes);
    expect(text.includes(M)).toBe(!isUtf8(bytes));
    if (!text.includes(M)) expect(text).toBe(strict.decode(bytes));
    // Each mark stands for one byte: the round trip keeps the length, so the reader's byte counts stay exact.
    expect(encodeKeepingBadBytes(text).length).toBe(bytes.length);
  }
});
