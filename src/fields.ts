/**
 * Strict parsers for the dataset's field types. Each returns a sentinel (NaN or null) instead of
 * throwing, because a bad field rejects its row and rows are parsed in hot loops. They scan
 * character codes instead of matching regular expressions: the gateway types every field of
 * every row, and match arrays and substrings per field were most of its CPU time.
 */

const MAX_CENTS = Number.MAX_SAFE_INTEGER;
const MAX_ID = 2_147_483_647;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;

/** Value of the digits text[from..to) (to > from, all digits checked by the caller's scan). */
function digitsValue(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (text.charCodeAt(i) - ZERO);
  return v;
}

/** Index of the first non-digit at or after `from` (text.length when none). */
function digitsEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) break;
    i++;
  }
  return i;
}

/** True when text[from..) is empty or a "." followed by one or more zeros only. */
function zeroFraction(text: string, from: number): boolean {
  if (from === text.length) return true;
  if (text.charCodeAt(from) !== DOT || from + 1 === text.length) return false;
  for (let i = from + 1; i < text.length; i++) if (text.charCodeAt(i) !== ZERO) return false;
  return true;
}

/** Money text ("75", "75.0", "12.25", "-3.5") to integer cents; NaN when not exact to the cent. */
export function parseCents(text: string): number {
  const negative = text.charCodeAt(0) === MINUS;
  const start = negative ? 1 : 0;
  const intEnd = digitsEnd(text, start);
  if (intEnd === start || intEnd - start > 15) return NaN;
  let cents = digitsValue(text, start, intEnd) * 100;
  if (intEnd < text.length) {
    if (text.charCodeAt(intEnd) !== DOT) return NaN;
    const fracEnd = digitsEnd(text, intEnd + 1);
    if (fracEnd !== text.length || fracEnd === intEnd + 1) return NaN;
    // Digits past the cent are accepted only when zero, so the value stays exact.
    for (let i = intEnd + 3; i < fracEnd; i++) if (text.charCodeAt(i) !== ZERO) return NaN;
    const d1 = text.charCodeAt(intEnd + 1) - ZERO;
    const d2 = intEnd + 2 < fracEnd ? text.charCodeAt(intEnd + 2) - ZERO : 0;
    cents += d1 * 10 + d2;
  }
  if (cents > MAX_CENTS) return NaN;
  return negative ? -cents : cents;
}

/** Non-negative integer id, also written as `140170.0`; NaN when not one. */
export function parseId(text: string): number {
  const end = digitsEnd(text, 0);
  if (end === 0 || end > 10 || !zeroFraction(text, end)) return NaN;
  const id = digitsValue(text, 0, end);
  return id <= MAX_ID ? id : NaN;
}

/** Like parseId, but an empty field is the valid "no id" value -1. */
export function parseOptionalId(text: string): number {
  return text === "" ? -1 : parseId(text);
}

/** Integer count such as a quantity (may be written `3.0`); NaN when not one. */
export function parseCount(text: string): number {
  const negative = text.charCodeAt(0) === MINUS;
  const start = negative ? 1 : 0;
  const end = digitsEnd(text, start);
  if (end === start || end - start > 15 || !zeroFraction(text, end)) return NaN;
  const v = digitsValue(text, start, end);
  return negative ? -v : v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Two or four digits at `at` as a number, or -1 when any is not a digit. */
function fixedDigits(text: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    v = v * 10 + (c - ZERO);
  }
  return v;
}

/** yyyymmdd of the `YYYY-MM-DD` at text[0..10), or NaN when not a real calendar date. */
function dateAt(text: string): number {
  if (text.charCodeAt(4) !== MINUS || text.charCodeAt(7) !== MINUS) return NaN;
  const year = fixedDigits(text, 0, 4);
  const month = fixedDigits(text, 5, 2);
  const day = fixedDigits(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  return year * 10000 + month * 100 + day;
}

/** `YYYY-MM-DD` to the integer yyyymmdd; NaN when not a real calendar date. */
export function parseDate(text: string): number {
  return text.length === 10 ? dateAt(text) : NaN;
}

/** A timestamp split into calendar date (yyyymmdd) and seconds since midnight. */
export interface Timestamp {
  date: number;
  seconds: number;
}

/** Multiplier packing a timestamp's date and seconds into one number (seconds < 100 000). */
export const PACKED_DATE = 100_000;

/**
 * `YYYY-MM-DD HH:MM:SS` packed as date * PACKED_DATE + seconds since midnight (NaN when
 * malformed), so hot loops get both parts without allocating an object per row.
 */
export function parseTimestampPacked(text: string): number {
  if (text.length !== 19 || text.charCodeAt(10) !== 32 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return NaN;
  const date = dateAt(text);
  if (Number.isNaN(date)) return NaN;
  const h = fixedDigits(text, 11, 2);
  const min = fixedDigits(text, 14, 2);
  const s = fixedDigits(text, 17, 2);
  if (h < 0 || min < 0 || s < 0 || h > 23 || min > 59 || s > 59) return NaN;
  return date * PACKED_DATE + h * 3600 + min * 60 + s;
}

/** `YYYY-MM-DD HH:MM:SS`, taken as written (no time zone); null when malformed. */
export function parseTimestamp(text: string): Timestamp | null {
  const packed = parseTimestampPacked(text);
  if (Number.isNaN(packed)) return null;
  return { date: Math.floor(packed / PACKED_DATE), seconds: packed % PACKED_DATE };
}
