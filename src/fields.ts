/**
 * Strict parsers for the dataset's field types. Each returns a sentinel (NaN or null) instead of
 * throwing, because a bad field rejects its row and rows are parsed in hot loops. They scan
 * character codes of `text[from..to)` instead of matching regular expressions on substrings:
 * the gateway types every field of every row straight from a batch's packed text columns
 * (src/textColumn.ts), and match arrays and substrings per field were most of its CPU time.
 * The whole-string forms (`parseCents(text)`) are the same parsers over the whole string.
 */

const MAX_CENTS = Number.MAX_SAFE_INTEGER;
const MAX_ID = 2_147_483_647;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;

/** Value of the digits text[from..to) (all digits checked by the caller's scan). */
function digitsValue(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (text.charCodeAt(i) - ZERO);
  return v;
}

/** Index of the first non-digit in text[from..to) (to when none). */
function digitsEnd(text: string, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) break;
    i++;
  }
  return i;
}

/** True when text[from..to) is empty or a "." followed by one or more zeros only. */
function zeroFraction(text: string, from: number, to: number): boolean {
  if (from === to) return true;
  if (text.charCodeAt(from) !== DOT || from + 1 === to) return false;
  for (let i = from + 1; i < to; i++) if (text.charCodeAt(i) !== ZERO) return false;
  return true;
}

/** Money text ("75", "75.0", "12.25", "-3.5") in text[from..to) to integer cents; NaN when not exact to the cent. */
export function parseCentsAt(text: string, from: number, to: number): number {
  const negative = from < to && text.charCodeAt(from) === MINUS;
  const start = negative ? from + 1 : from;
  const intEnd = digitsEnd(text, start, to);
  if (intEnd === start || intEnd - start > 15) return NaN;
  let cents = digitsValue(text, start, intEnd) * 100;
  if (intEnd < to) {
    if (text.charCodeAt(intEnd) !== DOT) return NaN;
    const fracEnd = digitsEnd(text, intEnd + 1, to);
    if (fracEnd !== to || fracEnd === intEnd + 1) return NaN;
    // Digits past the cent are accepted only when zero, so the value stays exact.
    for (let i = intEnd + 3; i < fracEnd; i++) if (text.charCodeAt(i) !== ZERO) return NaN;
    const d1 = text.charCodeAt(intEnd + 1) - ZERO;
    const d2 = intEnd + 2 < fracEnd ? text.charCodeAt(intEnd + 2) - ZERO : 0;
    cents += d1 * 10 + d2;
  }
  if (cents > MAX_CENTS) return NaN;
  return negative ? -cents : cents;
}

/** Non-negative integer id in text[from..to), also written as `140170.0`; NaN when not one. */
export function parseIdAt(text: string, from: number, to: number): number {
  const end = digitsEnd(text, from, to);
  if (end === from || end - from > 10 || !zeroFraction(text, end, to)) return NaN;
  const id = digitsValue(text, from, end);
  return id <= MAX_ID ? id : NaN;
}

/** Like parseIdAt, but an empty field is the valid "no id" value -1. */
export function parseOptionalIdAt(text: string, from: number, to: number): number {
  return from === to ? -1 : parseIdAt(text, from, to);
}

/** Integer count in text[from..to) such as a quantity (may be written `3.0`); NaN when not one. */
export function parseCountAt(text: string, from: number, to: number): number {
  const negative = from < to && text.charCodeAt(from) === MINUS;
  const start = negative ? from + 1 : from;
  const end = digitsEnd(text, start, to);
  if (end === start || end - start > 15 || !zeroFraction(text, end, to)) return NaN;
  const v = digitsValue(text, start, end);
  return negative ? -v : v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `count` digits at `at` as a number, or -1 when any is not a digit. */
function fixedDigits(text: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    v = v * 10 + (c - ZERO);
  }
  return v;
}

/** yyyymmdd of the `YYYY-MM-DD` at text[at..at+10), or NaN when not a real calendar date. */
function dateAt(text: string, at: number): number {
  if (text.charCodeAt(at + 4) !== MINUS || text.charCodeAt(at + 7) !== MINUS) return NaN;
  const year = fixedDigits(text, at, 4);
  const month = fixedDigits(text, at + 5, 2);
  const day = fixedDigits(text, at + 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  return year * 10000 + month * 100 + day;
}

/** `YYYY-MM-DD` in text[from..to) to the integer yyyymmdd; NaN when not a real calendar date. */
export function parseDateAt(text: string, from: number, to: number): number {
  return to - from === 10 ? dateAt(text, from) : NaN;
}

/** Multiplier packing a timestamp's date and seconds into one number (seconds < 100 000). */
export const PACKED_DATE = 100_000;

/**
 * `YYYY-MM-DD HH:MM:SS` in text[from..to), packed as date * PACKED_DATE + seconds since midnight
 * (NaN when malformed), so hot loops get both parts without allocating an object per row.
 */
export function parseTimestampAt(text: string, from: number, to: number): number {
  if (to - from !== 19 || text.charCodeAt(from + 10) !== 32 || text.charCodeAt(from + 13) !== 58 || text.charCodeAt(from + 16) !== 58) return NaN;
  const date = dateAt(text, from);
  if (Number.isNaN(date)) return NaN;
  const h = fixedDigits(text, from + 11, 2);
  const min = fixedDigits(text, from + 14, 2);
  const s = fixedDigits(text, from + 17, 2);
  if (h < 0 || min < 0 || s < 0 || h > 23 || min > 59 || s > 59) return NaN;
  return date * PACKED_DATE + h * 3600 + min * 60 + s;
}

/** Money text to integer cents; NaN when not exact to the cent. */
export const parseCents = (text: string): number => parseCentsAt(text, 0, text.length);
/** Non-negative integer id, also written as `140170.0`; NaN when not one. */
export const parseId = (text: string): number => parseIdAt(text, 0, text.length);
/** Like parseId, but an empty field is the valid "no id" value -1. */
export const parseOptionalId = (text: string): number => parseOptionalIdAt(text, 0, text.length);
/** Integer count such as a quantity (may be written `3.0`); NaN when not one. */
export const parseCount = (text: string): number => parseCountAt(text, 0, text.length);
/** `YYYY-MM-DD` to the integer yyyymmdd; NaN when not a real calendar date. */
export const parseDate = (text: string): number => parseDateAt(text, 0, text.length);

/** A timestamp split into calendar date (yyyymmdd) and seconds since midnight. */
export interface Timestamp {
  date: number;
  seconds: number;
}

/** `YYYY-MM-DD HH:MM:SS`, taken as written (no time zone); null when malformed. */
export function parseTimestamp(text: string): Timestamp | null {
  const packed = parseTimestampAt(text, 0, text.length);
  if (Number.isNaN(packed)) return null;
  return { date: Math.floor(packed / PACKED_DATE), seconds: packed % PACKED_DATE };
}
