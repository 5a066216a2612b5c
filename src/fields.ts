/**
 * Strict parsers for the dataset's field types. Each returns a sentinel (NaN or null) instead of
 * throwing, because a bad field rejects its row and rows are parsed in hot loops.
 */

const MAX_CENTS = Number.MAX_SAFE_INTEGER;
const MAX_ID = 2_147_483_647;

/** Money text ("75", "75.0", "12.25", "-3.5") to integer cents; NaN when not exact to the cent. */
export function parseCents(text: string): number {
  const m = /^(-?)(\d{1,15})(?:\.(\d+))?$/.exec(text);
  if (!m) return NaN;
  const frac = m[3] ?? "";
  // Digits past the cent are accepted only when zero, so the value stays exact.
  if (frac.length > 2 && !/^0*$/.test(frac.slice(2))) return NaN;
  const cents = Number(m[2]) * 100 + Number((frac + "00").slice(0, 2));
  if (cents > MAX_CENTS) return NaN;
  return m[1] === "-" ? -cents : cents;
}

/** Non-negative integer id, also written as `140170.0`; NaN when not one. */
export function parseId(text: string): number {
  const m = /^(\d{1,10})(?:\.0+)?$/.exec(text);
  if (!m) return NaN;
  const id = Number(m[1]);
  return id <= MAX_ID ? id : NaN;
}

/** Like parseId, but an empty field is the valid "no id" value -1. */
export function parseOptionalId(text: string): number {
  return text === "" ? -1 : parseId(text);
}

/** Integer count such as a quantity (may be written `3.0`); NaN when not one. */
export function parseCount(text: string): number {
  const m = /^(-?\d{1,15})(?:\.0+)?$/.exec(text);
  return m ? Number(m[1]) : NaN;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `YYYY-MM-DD` to the integer yyyymmdd; NaN when not a real calendar date. */
export function parseDate(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  return year * 10000 + month * 100 + day;
}

/** A timestamp split into calendar date (yyyymmdd) and seconds since midnight. */
export interface Timestamp {
  date: number;
  seconds: number;
}

/** `YYYY-MM-DD HH:MM:SS`, taken as written (no time zone); null when malformed. */
export function parseTimestamp(text: string): Timestamp | null {
  if (text.length !== 19 || text[10] !== " ") return null;
  const date = parseDate(text.slice(0, 10));
  if (Number.isNaN(date)) return null;
  const m = /^(\d{2}):(\d{2}):(\d{2})$/.exec(text.slice(11));
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3]);
  if (h > 23 || min > 59 || s > 59) return null;
  return { date, seconds: h * 3600 + min * 60 + s };
}
