/**
 * Where CSV records end, and how their fields were quoted, read as papaparse reads them: the
 * reader (src/csvSource.ts) cuts its chunks and finds broken quotes with these before papaparse
 * parses a chunk's records.
 */

/** Characters String.prototype.trim removes (papaparse uses trim() after a closing quote). */
function isTrimSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

// Character codes (also byte values: all ASCII) the scanners compare against.
/** `,` */
export const COMMA = 44;
/** `"` */
export const QUOTE = 34;
/** `\r` */
export const CR = 13;
/** `\n` */
export const LF = 10;

/** What scanRecords found from where it started. */
export interface RecordScan {
  /** Just past the last complete, well-quoted record (where it started when there is none). */
  end: number;
  /**
   * The record at `end` has a quoted field that does not close where it should (what papaparse
   * reports as InvalidQuotes, or MissingQuotes at the end). Such a record is one bad row.
   */
  broken: boolean;
  /** Where in a broken record the character is that broke its quoting (-1: its field is open at the end). */
  brokeAt: number;
  /** The text ends inside a quoted field (of the record at `end`): more text may close it. */
  open: boolean;
}

/**
 * Scan `text` from `from` (a record boundary) for whole records, in one pass, and stop at the
 * first record whose quote does not close where it should, or after `maxRecords` records (an
 * empty line is one, as papaparse counts rows without skipEmptyLines). Quoted fields may hold
 * line breaks, so records end only at line breaks outside them. Quotes are read as papaparse
 * reads them: a quote opens a quoted field only at the start of a field, `""` inside is an
 * escaped quote, and a later quote closes the field when what follows it, up to the next comma
 * or line break, is whitespace; anything else there breaks the field. With `atEnd` the text is
 * all there is: a last record without a line break is complete.
 */
export function scanRecords(text: string, from: number, newline: "\n" | "\r", atEnd: boolean, maxRecords = Infinity): RecordScan {
  const last = newline === "\r" ? CR : LF;
  const FIELD_START = 0;
  const UNQUOTED = 1;
  const QUOTED = 2;
  const AFTER_QUOTE = 3;
  let state = FIELD_START;
  let end = from;
  let records = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    switch (state) {
      case FIELD_START:
      case UNQUOTED:
        if (c === last) { end = i + 1; state = FIELD_START; if (++records === maxRecords) return { end, broken: false, brokeAt: -1, open: false }; }
        else if (c === COMMA) state = FIELD_START;
        else if (c === QUOTE && state === FIELD_START) state = QUOTED;
        else state = UNQUOTED;
        break;
      case QUOTED:
        if (c === QUOTE) state = AFTER_QUOTE;
        break;
      default: // AFTER_QUOTE: a quote, then only whitespace so far
        if (c === last) { end = i + 1; state = FIELD_START; if (++records === maxRecords) return { end, broken: false, brokeAt: -1, open: false }; }
        else if (c === COMMA) state = FIELD_START;
        // `""` right after the quote is an escaped quote; after spaces a quote is a new candidate close.
        else if (c === QUOTE) state = text.charCodeAt(i - 1) === QUOTE ? QUOTED : AFTER_QUOTE;
        // Anything else after a closing quote: the field's quoting is broken.
        else if (!isTrimSpace(c)) return { end, broken: true, brokeAt: i, open: false };
    }
  }
  if (state === QUOTED) return { end, broken: atEnd, brokeAt: -1, open: !atEnd };
  return { end: atEnd ? text.length : end, broken: false, brokeAt: -1, open: false };
}

/**
 * Whether the last field of the record text[from, to) opened with a quote, read as papaparse
 * reads quotes (a quote inside an unquoted field is a character; `""` inside quotes is one).
 */
export function lastFieldQuoted(text: string, from: number, to: number): boolean {
  let quoted = false;
  let open = false;
  let atStart = true;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (open) {
      if (c === QUOTE) open = false;
    } else if (c === COMMA) {
      atStart = true;
      quoted = false;
    } else if (atStart) {
      atStart = false;
      quoted = open = c === QUOTE;
    } else if (c === QUOTE && quoted) {
      open = true;
    }
  }
  return quoted;
}
