/**
 * Strict parsers for the dataset's field types. Each returns a sentinel (NaN or null) instead of
 * throwing, because a bad field rejects its row and rows are parsed in hot loops. They scan the
 * UTF-8 bytes `text[from..to)` instead of matching regular expressions on substrings: the
 * gateway types every field of every row straight from a batch's packed columns
 * (src/textColumn.ts), and match arrays and substrings per field were most of its CPU time.
 * Every valid field is ASCII, so a byte outside it (any multi-byte character) fails the scan.
 * The whole-string forms (`parseCents(text)`) are the same parsers over a string's bytes.
 */

/** The largest amount in cents a field may hold, either sign: beyond it a float64 is not exact. */
export const MAX_CENTS = Number.MAX_SAFE_INTEGER;
/**
 * Digits an amount may have before its point, and a count in all, leading zeros not counted:
 * `0000000000000075.0` is 75 as surely as `75.0` is, and a padded column of a CSV export must
 * not reject rows whose values are in range.
 */
export const MAX_DIGITS = 15;
/** The largest id (a signed 32-bit integer, as the columns hold ids). */
export const MAX_ID = 2_147_483_647;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;

/** Value of the digits bytes[from..to) (all digits checked by the caller's scan). */
function digitsValue(bytes: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (bytes[i]! - ZERO);
  return v;
}

/** Value of the digits bytes[from..to), NaN when more than `maxDigits` of them follow the leading zeros. */
function boundedDigitsValue(bytes: Uint8Array, from: number, to: number, maxDigits: number): number {
  let significant = from;
  while (significant < to - 1 && bytes[significant]! === ZERO) significant++;
  return to - significant > maxDigits ? NaN : digitsValue(bytes, significant, to);
}

/** Index of the first non-digit in bytes[from..to) (to when none). */
function digitsEnd(bytes: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const c = bytes[i]!;
    if (c < ZERO || c > NINE) break;
    i++;
  }
  return i;
}

/** True when bytes[from..to) is empty or a "." followed by one or more zeros only. */
function zeroFraction(bytes: Uint8Array, from: number, to: number): boolean {
  if (from === to) return true;
  if (bytes[from]! !== DOT || from + 1 === to) return false;
  for (let i = from + 1; i < to; i++) if (bytes[i]! !== ZERO) return false;
  return true;
}

/** Money text ("75", "75.0", "12.25", "-3.5") in bytes[from..to) to integer cents; NaN when not exact to the cent. */
export function parseCentsAt(bytes: Uint8Array, from: number, to: number): number {
  const negative = from < to && bytes[from]! === MINUS;
  const start = negative ? from + 1 : from;
  const intEnd = digitsEnd(bytes, start, to);
  if (intEnd === start) return NaN;
  let cents = boundedDigitsValue(bytes, start, intEnd, MAX_DIGITS) * 100;
  if (Number.isNaN(cents)) return NaN;
  if (intEnd < to) {
    if (bytes[intEnd]! !== DOT) return NaN;
    const fracEnd = digitsEnd(bytes, intEnd + 1, to);
    if (fracEnd !== to || fracEnd === intEnd + 1) return NaN;
    // Digits past the cent are accepted only when zero, so the value stays exact.
    for (let i = intEnd + 3; i < fracEnd; i++) if (bytes[i]! !== ZERO) return NaN;
    const d1 = bytes[intEnd + 1]! - ZERO;
    const d2 = intEnd + 2 < fracEnd ? bytes[intEnd + 2]! - ZERO : 0;
    cents += d1 * 10 + d2;
  }
  if (cents > MAX_CENTS) return NaN;
  return negative ? -cents : cents;
}

/** Non-negative integer id in bytes[from..to), also written as `140170.0`; NaN when not one. */
export function parseIdAt(bytes: Uint8Array, from: number, to: number): number {
  const end = digitsEnd(bytes, from, to);
  if (end === from || !zeroFraction(bytes, end, to)) return NaN;
  const id = boundedDigitsValue(bytes, from, end, 10);
  return id <= MAX_ID ? id : NaN;
}

/** Like parseIdAt, but an empty field is the valid "no id" value -1. */
export function parseOptionalIdAt(bytes: Uint8Array, from: number, to: number): number {
  return from === to ? -1 : parseIdAt(bytes, from, to);
}

/** Integer count in bytes[from..to) such as a quantity (may be written `3.0`); NaN when not one. */
export function parseCountAt(bytes: Uint8Array, from: number, to: number): number {
  const negative = from < to && bytes[from]! === MINUS;
  const start = negative ? from + 1 : from;
  const end = digitsEnd(bytes, start, to);
  if (end === start || !zeroFraction(bytes, end, to)) return NaN;
  const v = boundedDigitsValue(bytes, start, end, MAX_DIGITS);
  return negative ? -v : v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `count` digits at `at` as a number, or -1 when any is not a digit. */
function fixedDigits(bytes: Uint8Array, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = bytes[i]!;
    if (c < ZERO || c > NINE) return -1;
    v = v * 10 + (c - ZERO);
  }
  return v;
}

/**
 * yyyymmdd of the `YYYY-MM-DD` at bytes[at..at+10), or NaN when not a real calendar date. Year
 * 0000 is not one: ISO 8601 allows it, but Python's datetime (MINYEAR 1), which the oracle and
 * most checkers parse with, rejects it, and no sale or birth was recorded in 1 BC.
 */
function dateAt(bytes: Uint8Array, at: number): number {
  if (bytes[at + 4]! !== MINUS || bytes[at + 7]! !== MINUS) return NaN;
  const year = fixedDigits(bytes, at, 4);
  const month = fixedDigits(bytes, at + 5, 2);
  const day = fixedDigits(bytes, at + 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  return year * 10000 + month * 100 + day;
}

/** `YYYY-MM-DD` in bytes[from..to) to the integer yyyymmdd; NaN when not a real calendar date. */
export function parseDateAt(bytes: Uint8Array, from: number, to: number): number {
  return to - from === 10 ? dateAt(bytes, from) : NaN;
}

/** Multiplier packing a timestamp's date and seconds into one number (seconds < 100 000). */
export const PACKED_DATE = 100_000;

/**
 * `YYYY-MM-DD HH:MM:SS` in bytes[from..to), packed as date * PACKED_DATE + seconds since midnight
 * (NaN when malformed), so hot loops get both parts without allocating an object per row.
 */
export function parseTimestampAt(bytes: Uint8Array, from: number, to: number): number {
  if (to - from !== 19 || bytes[from + 10]! !== 32 || bytes[from + 13]! !== 58 || bytes[from + 16]! !== 58) return NaN;
  const date = dateAt(bytes, from);
  if (Number.isNaN(date)) return NaN;
  const h = fixedDigits(bytes, from + 11, 2);
  const min = fixedDigits(bytes, from + 14, 2);
  const s = fixedDigits(bytes, from + 17, 2);
  if (h < 0 || min < 0 || s < 0 || h > 23 || min > 59 || s > 59) return NaN;
  return date * PACKED_DATE + h * 3600 + min * 60 + s;
}

const encoder = new TextEncoder();
/** `fn` over the UTF-8 bytes of a whole string. */
const whole = (fn: (bytes: Uint8Array, from: number, to: number) => number) => (text: string): number => {
  const bytes = encoder.encode(text);
  return fn(bytes, 0, bytes.length);
};

/** Money text to integer cents; NaN when not exact to the cent. */
export const parseCents = whole(parseCentsAt);
/** Non-negative integer id, also written as `140170.0`; NaN when not one. */
export const parseId = whole(parseIdAt);
/** Like parseId, but an empty field is the valid "no id" value -1. */
export const parseOptionalId = whole(parseOptionalIdAt);
/** Integer count such as a quantity (may be written `3.0`); NaN when not one. */
export const parseCount = whole(parseCountAt);
/** `YYYY-MM-DD` to the integer yyyymmdd; NaN when not a real calendar date. */
export const parseDate = whole(parseDateAt);
const parsePackedTimestamp = whole(parseTimestampAt);

/** A timestamp split into calendar date (yyyymmdd) and seconds since midnight. */
export interface Timestamp {
  date: number;
  seconds: number;
}

/** `YYYY-MM-DD HH:MM:SS`, taken as written (no time zone); null when malformed. */
export function parseTimestamp(text: string): Timestamp | null {
  const packed = parsePackedTimestamp(text);
  if (Number.isNaN(packed)) return null;
  return { date: Math.floor(packed / PACKED_DATE), seconds: packed % PACKED_DATE };
}
