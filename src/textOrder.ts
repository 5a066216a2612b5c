/**
 * The order every report sorts text in: Unicode code points, which is also the order of the
 * UTF-8 bytes, DuckDB's `ORDER BY`, Python's `sorted` and `LC_ALL=C sort`. JavaScript's `<`
 * compares UTF-16 code units instead, which differs for a character above U+FFFF (stored as a
 * surrogate pair, D800–DFFF) against one in U+E000–U+FFFF: code units put the first before the
 * second, code points after.
 */

/** Negative, zero or positive as `a` sorts before, with or after `b` by code points. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  return codePointRank(a.charCodeAt(i)) - codePointRank(b.charCodeAt(i));
}

/**
 * A code unit's place among code points: surrogates (characters above U+FFFF) move above
 * U+E000–U+FFFF, which move down into the gap the surrogates leave. Units below D800 stay.
 */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
