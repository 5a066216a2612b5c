import { describe, expect, test } from "bun:test";
import { compareCodePoints } from "./textOrder.ts";

/** The order of the texts' UTF-8 bytes, which is code point order by UTF-8's design. */
const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

describe("compareCodePoints", () => {
  test("puts a character above U+FFFF after one in U+E000–U+FFFF, where JavaScript's < does the opposite", () => {
    const emoji = "Caf\u{1F375}"; // a surrogate pair
    const privateUse = "Caf\uFF01"; // FULLWIDTH EXCLAMATION MARK
    expect(emoji < privateUse).toBe(true);
    expect(compareCodePoints(emoji, privateUse)).toBeGreaterThan(0);
    expect(compareCodePoints(privateUse, emoji)).toBeLessThan(0);
  });

  test("agrees with UTF-8 byte order on random texts from every plane, prefixes and equal texts included", () => {
    const pool = ["", "a", "Z", "é", "ñ", "\u00ff", "\ud7ff", "\ue000", "\uffee", "\uffff", "\u{10000}", "\u{1F375}", "\u{10FFFF}", ",", "0"];
    let seed = 7;
    const pick = (): string => pool[((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % pool.length]!;
    const texts = Array.from({ length: 400 }, () => Array.from({ length: 1 + (seed % 4) }, pick).join(""));
    for (const a of texts) {
      for (const b of texts.slice(0, 60)) expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(byUtf8(a, b)));
    }
  });
});
