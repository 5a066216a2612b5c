/**
 * The CSV reader's general path, for chunks that hold a quote or any byte past ASCII: records
 * are found on the decoded text by reading quotes as papaparse does (src/csvRecords.ts), and
 * parsed by papaparse. A record whose quote is broken (never closes, or text follows its closing
 * quote) would swallow the lines after it into one field, so only the line its quote opened on
 * is rejected and reading goes on at the next line: a stray quote loses one row, reported, not
 * the rest of the file. Which quote is to blame is papaparse's call, so the reader agrees with
 * one papaparse read of the whole file.
 */
import { isUtf8 } from "node:buffer";
import Papa from "papaparse";
import { BAD_BYTE_MARK, decodeMarkingBadBytes, encodeKeepingBadBytes } from "./badBytes.ts";
import { lastFieldQuoted, scanRecords } from "./csvRecords.ts";
import type { RowBatcher } from "./rowBatcher.ts";
import { decodeUtf8 } from "./utf8.ts";

/**
 * Bytes held back waiting for a record to end before it is taken as broken: a quote that never
 * closes would otherwise hold the rest of the file. No good record is this long: the gateway's
 * --max-field-bytes is 64 KiB by default and at most 4 MiB.
 */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** The reason for a row whose quote is broken. */
const BROKEN_QUOTE = "a quoted field that does not close, or text after its closing quote";


/** How many times `split` occurs in `text`: the file lines a span of it covers, less one. */
function countBreaks(text: string, split: "\n" | "\r"): number {
  let breaks = 0;
  for (let at = text.indexOf(split); at >= 0; at = text.indexOf(split, at + 1)) breaks++;
  return breaks;
}

/** A papaparse error that means a quote opened a field and did not close it where it should. */
function isQuoteError(e: { type: string }): boolean {
  return e.type === "Quotes";
}

/** How papaparse reads the one record starting at `text[start]`. */
interface RecordProbe {
  /** Its length as papaparse reads it (to the text's end when its quote never closes). */
  length: number;
  /** Where, from `start`, the quote of its first broken field opened (null: no broken quote). */
  quoteAt: number | null;
  /** Its first broken field was a sound quoted field still open at the end of the text: text to come might close it. */
  open: boolean;
}

/**
 * Read the one record starting at `text[start]` with papaparse, in `text` up to `until` only
 * (papaparse's first error does not depend on what follows the line that broke the field, and
 * reading on would cost the rest of the chunk per broken row): what the reader does with a
 * broken record follows papaparse.
 */
function probeRecord(text: string, start: number, until: number, split: "\n" | "\r"): RecordProbe {
  // papaparse drops a U+FEFF that starts its input: an empty line first keeps it (as in parseText).
  const pad = text.charCodeAt(start) === 0xfeff ? split.length : 0;
  const input = pad > 0 ? split + text.slice(start, until) : text.slice(start, until);
  let probe: RecordProbe = { length: until - start, quoteAt: null, open: false };
  let rows = 0;
  Papa.parse<string[]>(input, {
    delimiter: ",", newline: split,
    step: (row, parser) => {
      if (rows++ === 0 && pad > 0) return;
      const errors = row.errors.filter(isQuoteError);
      // papaparse's index is just past the field's opening quote.
      const first = errors[0];
      // Only a field whose quoting was sound so far and is still open may close in text to come;
      // an InvalidQuotes first is broken for good, however the field ends.
      probe = { length: row.meta.cursor - pad, quoteAt: first ? Math.max(0, (first.index ?? 1) - 1 - pad) : null, open: first?.code === "MissingQuotes" };
      parser.abort();
    },
  });
  return probe;
}

/** `span` (from a record's start) is one bad row: rejected at its first line, its lines counted. */
function rejectSpan(span: string, split: "\n" | "\r", to: RowBatcher): void {
  to.reject(to.line + 1, BROKEN_QUOTE);
  to.line += Math.max(1, countBreaks(span, split));
}

/**
 * Parse decoded `text` (whole records) with papaparse into `to`. Returns how many of its
 * characters were consumed: all of them, or up to the end of the line a quote error started
 * on, after which the rest must be parsed again as records. `endBytes` (where `text` ends in the
 * file) places batches for progress displays.
 */
function parseText(text: string, endBytes: number, split: "\n" | "\r", to: RowBatcher): number {
  // Bytes that are not UTF-8 are marked (src/badBytes.ts): a row with them in a column coffee
  // reads is malformed, not data. A U+FFFD is a character like any other.
  const suspect = text.includes(BAD_BYTE_MARK);
  // The delimiter is fixed (RFC 4180): a per-chunk guess could differ between chunks.
  // papaparse drops a U+FEFF that starts its input: inside a file it is data, and an empty line
  // first (dropped below, uncounted) keeps it. The file's own BOM is gone before any parse.
  const padded = text.charCodeAt(0) === 0xfeff;
  const input = padded ? split + text : text;
  const parsed = Papa.parse<string[]>(input, { delimiter: ",", newline: split });
  const rows = parsed.data;
  // The reader scans for broken quotes first (scanRecords), so papaparse should find none; if
  // it reads a record differently all the same, the same rule applies to it here.
  const quoteError = parsed.errors.find(isQuoteError);
  // A text ending in a line break gives papaparse one more, empty row: not a line of the file.
  const count = input.endsWith(split) && rows.at(-1)?.length === 1 && rows.at(-1)![0] === "" ? rows.length - 1 : rows.length;
  const startBytes = to.bytesParsed;
  // With `\n` line breaks papaparse leaves the `\r` of a CRLF at the end of an unquoted last
  // field, dropped below; one ending a quoted last field is the field's own, papaparse having
  // dropped the line break's. Only text with a `\r"` can hold one, and there each record's
  // start is tracked (a scan per record, as papaparse reads them) to tell which it is.
  const quotedCr = split === "\n" && input.includes('\r"');
  let recordEnd = padded ? split.length : 0;
  for (let k = padded ? 1 : 0; k < count; k++) {
    const row = rows[k]!;
    const recordStart = recordEnd;
    if (quotedCr) {
      // A record the scan takes for broken (papaparse reading it whole all the same) is parsed alone.
      const scanned = scanRecords(input, recordStart, split, true, 1).end;
      recordEnd = scanned > recordStart ? scanned : input.length;
    }
    const first = to.line + 1;
    let breaks = 0;
    for (const f of row) breaks += countBreaks(f, split);
    to.line = first + breaks;
    if (quoteError && k === quoteError.row) {
      // One bad row; the lines its broken quote swallowed, after the quote's own, are read again.
      // Where row k starts: the rows before it are sound (papaparse's first error is in row k).
      const from = k === 0 ? 0 : scanRecords(input, 0, split, false, k).end;
      // papaparse's index is just past the field's opening quote.
      const lineEnd = input.indexOf(split, Math.max(from, (quoteError.index ?? from + 1) - 1));
      const resume = lineEnd < 0 ? input.length : lineEnd + 1;
      to.line = first - 1;
      rejectSpan(input.slice(from, resume), split, to);
      return resume - (padded ? split.length : 0);
    }
    if (split === "\n") {
      const last = row[row.length - 1]!;
      if (last.endsWith("\r") && !(quotedCr && lastFieldQuoted(input, recordStart, recordEnd))) row[row.length - 1] = last.slice(0, -1);
    }
    if (row.length === 1 && row[0] === "") continue; // an empty line
    if (!to.hasHeader) { to.header(row); continue; }
    if (!to.fits(first, row.length)) continue;
    if (to.addStrings(row, first, suspect) && to.full()) to.cut(startBytes + Math.round(((endBytes - startBytes) * (k + 1)) / count));
  }
  return text.length;
}

/**
 * Parse the whole records in `pending[0, cut)` into `to`; returns what is left to parse again
 * once more bytes are held (a record that may yet close), followed by `pending[cut,)`. With
 * `final` there is nothing more to come: every broken quote is dealt with in this one pass.
 * A quoted field held open past MAX_PENDING_BYTES (`pending` is that long) is taken as broken.
 */
export function parseQuotedRecords(pending: Buffer, cut: number, split: "\n" | "\r", final: boolean, to: RowBatcher): Buffer {
  // Quotes may hold line breaks, so records are found on the text, reading quotes as papaparse
  // does; a record whose quote is broken is one bad row, and scanning goes on past the line its
  // quote opened on, in this same pass (one pass per chunk, however many such rows it holds).
  const head = pending.subarray(0, cut);
  const startBytes = to.bytesParsed;
  // Not streaming: every decode starts and ends at a record boundary or at the end of the held bytes.
  const text = isUtf8(head) ? decodeUtf8(head) : decodeMarkingBadBytes(head);
  let pos = 0;
  /** Where text[pos] is in the file, for progress displays. */
  let byteAt = to.bytesParsed;
  /** Parse the records in text[from, till); true when papaparse took all of them (pos is then `till`). */
  const parseSegment = (from: number, till: number): boolean => {
    const segment = text.slice(from, till);
    const bytes = Buffer.byteLength(segment);
    to.bytesParsed = byteAt;
    const consumed = parseText(segment, byteAt + bytes, split, to);
    byteAt += consumed === segment.length ? bytes : Buffer.byteLength(segment.slice(0, consumed));
    pos = from + consumed;
    return consumed === segment.length;
  };
  while (pos < text.length) {
    const scan = scanRecords(text, pos, split, final);
    if (scan.end > pos && !parseSegment(pos, scan.end)) continue;
    // A quoted field held open this long (most of what is held, past MAX_PENDING_BYTES) is taken
    // as broken rather than as a field still going on: the file's rest must not wait on it.
    const stuck = scan.open && pending.length > MAX_PENDING_BYTES && (text.length - scan.end) * 2 >= text.length;
    if (!scan.broken && !stuck) break;
    const brokenAt = scan.end;
    // Which quote is to blame is papaparse's call (its error index); it reads this one record only.
    const brokenLineEnd = scan.brokeAt >= 0 ? text.indexOf(split, scan.brokeAt) : -1;
    let probe = probeRecord(text, brokenAt, brokenLineEnd < 0 ? text.length : brokenLineEnd + 1, split);
    // Read only so far, papaparse saw no break or an open field: it reads this record otherwise
    // than the scan (a rare disagreement), so it reads all there is.
    if (brokenLineEnd >= 0 && (probe.quoteAt === null || probe.open)) probe = probeRecord(text, brokenAt, text.length, split);
    const nothingMore = final || pending.length > MAX_PENDING_BYTES;
    if (probe.quoteAt === null) {
      // papaparse reads it as a sound record after all: parsed as it reads it.
      if (brokenAt + probe.length >= text.length && !nothingMore) break;
      parseSegment(brokenAt, brokenAt + probe.length);
      continue;
    }
    const lineEnd = text.indexOf(split, brokenAt + probe.quoteAt);
    // The record may yet close (more text to come), or the quote's line is not all here yet.
    if ((probe.open || lineEnd < 0) && !nothingMore && !stuck) break;
    const resume = lineEnd < 0 ? text.length : lineEnd + 1;
    const span = text.slice(brokenAt, resume);
    rejectSpan(span, split, to);
    byteAt += Buffer.byteLength(span);
    pos = resume;
  }
  const restText = text.slice(pos);
  // Back to bytes with its bad bytes still bad, so the next decode marks them again.
  const rest = restText === "" ? pending.subarray(cut) : Buffer.concat([encodeKeepingBadBytes(restText), pending.subarray(cut)]);
  to.bytesParsed = startBytes + pending.length - rest.length;
  return rest;
}
