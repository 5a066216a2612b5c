/**
 * Streams one entity's CSV files as batches of projected text columns, never holding a whole
 * file. Shared by the client and `coffee reference`, so both reject exactly the same rows.
 */
import { isAscii, isUtf8 } from "node:buffer";
import { readdirSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import Papa from "papaparse";
import { BAD_BYTE_MARK, decodeMarkingBadBytes, encodeKeepingBadBytes } from "./badBytes.ts";
import { DatasetError, errorMessage } from "./errors.ts";
import { ENTITIES, ENTITY_COLUMNS, type Entity } from "./schema.ts";
import { ColumnBuilder } from "./columnBuilder.ts";
import { COMMA, CR, lastFieldQuoted, LF, QUOTE, scanRecords } from "./csvRecords.ts";
import type { TextColumn } from "./textColumn.ts";

/** A batch of rows from one file: packed text columns in ENTITY_COLUMNS order plus each row's line number. */
export interface TextBatch {
  file: string;
  columns: TextColumn[];
  lines: number[];
  /**
   * Where in the file (bytes from its start) the batch's last row ends, for progress displays
   * that compare it with the file size. Exact at chunk ends and for the file's last batch;
   * within a chunk placed by row count, which costs nothing per row.
   */
  bytesRead: number;
}

/** A batch while it fills. */
interface OpenBatch {
  columns: ColumnBuilder[];
  lines: number[];
  /** UTF-8 bytes of its fields so far. */
  bytes: number;
}

/** The CSV files of an entity folder, sorted by name (hidden files left out); a missing folder, or a non-file named *.csv, is a DatasetError. */
export function entityFiles(dataDir: string, entity: Entity): string[] {
  const dir = join(dataDir, entity);
  let names: string[];
  try {
    if (!statSync(dataDir).isDirectory()) throw new DatasetError(`${dataDir} is a file, not a dataset folder (one holding transactions/, transaction_items/, users/, stores/, menu_items/)`);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`dataset folder ${dataDir} does not exist`);
  }
  try {
    if (!statSync(dir).isDirectory()) throw new DatasetError(`${dir} is not a directory (expected ${entity}/*.csv under ${dataDir})`);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`dataset folder ${dir} is missing (expected ${entity}/*.csv under ${dataDir})${datasetsBelow(dataDir)}`);
  }
  // Hidden files are not data: macOS leaves `._name.csv` (AppleDouble) beside every file it copies.
  const files = names.filter((n) => n.toLowerCase().endsWith(".csv") && !n.startsWith(".")).sort().map((n) => join(dir, n));
  for (const f of files) {
    let isFile: boolean;
    try {
      isFile = statSync(f).isFile();
    } catch (err) {
      // A broken symlink, or a file gone since the listing.
      throw new DatasetError(`${f} cannot be read: ${errorMessage(err)}`);
    }
    if (!isFile) throw new DatasetError(`${f} is not a regular file (a folder named like a CSV file?)`);
  }
  return files;
}

/**
 * A hint for a --data that names the parent of datasets (demo/data holds client1/, client2/...):
 * its subfolders that hold an entity folder of their own, or "" when none does.
 */
function datasetsBelow(dataDir: string): string {
  const holdsEntity = (dir: string): boolean => ENTITIES.some((e) => statOrNull(join(dir, e))?.isDirectory());
  // A dataset short of one folder is not a parent of datasets (its backup/ may look like one).
  if (holdsEntity(dataDir)) return "";
  let names: string[];
  try {
    names = readdirSync(dataDir).sort();
  } catch {
    return "";
  }
  // stat, not the directory entry: a dataset may be a symlink to one.
  const datasets = names.filter((d) => statOrNull(join(dataDir, d))?.isDirectory() && holdsEntity(join(dataDir, d)));
  if (datasets.length === 0) return "";
  return `; ${datasets.slice(0, 3).map((d) => `${d}/`).join(", ")}${datasets.length > 3 ? ", ..." : ""} below it ${datasets.length === 1 ? "looks like a dataset: pass it" : "look like datasets: pass one of those"} as --data`;
}

/** statSync, or null when the path cannot be stat'ed. */
function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** What an entity folder holds besides its CSV files, for a folder with none (subfolders, compressed files). */
export function otherEntries(dataDir: string, entity: Entity): string[] {
  const dir = join(dataDir, entity);
  return readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name)).sort();
}

/**
 * `text` safe to print on a terminal, at most 200 characters: a binary file's "header" would
 * otherwise send control bytes (escape sequences) to the user's terminal.
 */
function printable(text: string): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return safe.length > 200 ? `${safe.slice(0, 200)}...` : safe;
}

/** Map each needed column to its index in a header row; a missing column is a DatasetError. */
export function projectHeader(file: string, entity: Entity, header: readonly string[]): number[] {
  const trimmed = header.map((h) => h.trim().replace(/^\uFEFF/, ""));
  return ENTITY_COLUMNS[entity].map((name) => {
    const idx = trimmed.indexOf(name);
    if (idx < 0) throw new DatasetError(`${file}: header has no column "${name}" (found: ${printable(trimmed.join(","))})`);
    return idx;
  });
}

/** Bytes read from a file per step; each step's whole records are parsed in one go. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/** Line breaks papaparse recognises. */
export type Newline = "\n" | "\r\n" | "\r";

/** How many characters papaparse looks at to guess a file's line breaks. */
const NEWLINE_GUESS_CHARS = 1024 * 1024;

/**
 * A file's line break, guessed from its first MiB exactly as papaparse guesses it, so every
 * chunk of the file is parsed with the line break one whole-file parse would use.
 */
export function guessNewline(text: string): Newline {
  const head = text.slice(0, NEWLINE_GUESS_CHARS).replace(/"[^]*?"/gm, "");
  const r = head.split("\r");
  const n = head.split("\n");
  if (r.length === 1 || (n.length > 1 && n[0]!.length < r[0]!.length)) return "\n";
  let withN = 0;
  for (const part of r) if (part[0] === "\n") withN++;
  return withN >= r.length / 2 ? "\r\n" : "\r";
}

/**
 * Bytes held back waiting for a record to end before it is taken as broken: a quote that never
 * closes would otherwise hold the rest of the file. No good record is this long: the gateway's
 * --max-field-bytes is 64 KiB by default and at most 4 MiB.
 */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** How readEntityFile cuts batches and reads. */
export interface ReadOptions {
  /** Most rows in a batch. */
  batchRows: number;
  /** UTF-8 bytes of fields after which a batch is cut (default: rows alone decide). */
  batchBytes?: number;
  /** Bytes read per step (default 1 MiB). */
  chunkBytes?: number;
  /** The file's line break when known (tests); otherwise guessed from its first MiB. */
  newline?: Newline;
}

/**
 * The line break records are split on: a file whose line breaks are `\n` or `\r\n` is read as
 * `\n` with a `\r` before it dropped, so a file mixing the two (edited on two systems, or
 * concatenated) loses no row; only a file of bare `\r` (old Mac) is split on `\r`.
 */
function splitOn(newline: Newline): "\n" | "\r" {
  return newline === "\r" ? "\r" : "\n";
}

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

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Reasons for rows the reader rejects (the gateway's are src/rowFault.ts's). */
const BROKEN_QUOTE = "a quoted field that does not close, or text after its closing quote";
const NOT_UTF8 = "bytes that are not UTF-8";
const MAX_PENDING_MIB = MAX_PENDING_BYTES / (1024 * 1024);
const LONG_LINE = `a line of over ${MAX_PENDING_MIB} MiB with no line break`;
function fieldCountFault(fields: number, width: number): string {
  return `${fields} field${fields === 1 ? "" : "s"} where the header has ${width}`;
}

/**
 * Read one file and yield batches of at most `batchRows` rows, cut earlier once their fields
 * hold `batchBytes` bytes (the broker is cheap per byte and dear per message, so batches
 * are sized by bytes; the row cap keeps them under the gateway's --max-batch-rows). A row's
 * line number is the file's line it starts on (empty lines and line breaks inside quoted fields
 * counted), the header's being 1 when it is first. `onReject` receives, with the reason, rows with the wrong number
 * of fields, bytes that are not UTF-8, or a quote that does not close: such a quote would swallow
 * the lines after it into one field, so only the line it is on is rejected and reading goes on
 * at the next line (a stray quote loses one row, reported, not the rest of the file).
 *
 * The file is read in chunks of `chunkBytes`, each cut after its last complete record. A chunk
 * that is all ASCII and holds no quote is split on commas and line breaks by scanning its bytes,
 * which is all RFC 4180 (and papaparse) makes of such text; fields are copied into the batch's
 * columns without a string per field. Any other chunk is decoded and parsed in one papaparse
 * call. The byte scan costs a fifth of papaparse's time on the dataset's files, and the client
 * is the largest single cost of a run.
 */
export async function* readEntityFile(
  file: string,
  entity: Entity,
  onReject: (line: number, reason: string) => void,
  opts: ReadOptions,
): AsyncGenerator<TextBatch> {
  const { batchRows, batchBytes = Infinity, chunkBytes = DEFAULT_CHUNK_BYTES } = opts;
  const ncols = ENTITY_COLUMNS[entity].length;
  let projection: number[] | null = null;
  let width = 0;
  /** The last line of the file consumed so far. */
  let line = 0;
  const batch = emptyBatch(ncols);
  const ready: TextBatch[] = [];
  let bytesRead = 0;
  /** Bytes of the file consumed by the parses so far (the BOM included). */
  let bytesParsed = 0;
  const close = (at: number): void => {
    ready.push({ file, columns: batch.columns.map((c) => c.finish()), lines: batch.lines, bytesRead: at });
    // The builders are kept: their buffers have grown to a batch's size already.
    batch.lines = [];
    batch.bytes = 0;
  };
  const full = (): boolean => batch.lines.length >= batchRows || batch.bytes >= batchBytes;
  // Per record of the byte scan: where each projected field starts and ends.
  const fieldFrom = new Int32Array(ncols);
  const fieldTo = new Int32Array(ncols);
  /** Projected column of each field of a record, -1 for the others. */
  let wanted = new Int32Array(0);
  const header = (row: string[]): void => {
    projection = projectHeader(file, entity, row);
    width = row.length;
    wanted = new Int32Array(width).fill(-1);
    projection.forEach((field, k) => { wanted[field] = k; });
  };

  // Not streaming: every decode starts and ends at a record boundary or at the end of the held bytes.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  /** `span` (from a record's start) is one bad row: rejected at its first line, its lines counted. */
  const rejectSpan = (span: string, split: "\n" | "\r"): void => {
    onReject(line + 1, BROKEN_QUOTE);
    line += Math.max(1, countBreaks(span, split));
  };

  /**
   * Parse decoded `text` (whole records) with papaparse. Returns how many of its characters were
   * consumed: all of them, or up to the end of the line a quote error started on, after which
   * the rest must be parsed again as records. `endBytes` (where `text` ends in the file) places
   * batches for progress displays.
   */
  const parseText = (text: string, endBytes: number, split: "\n" | "\r"): number => {
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
    const startBytes = bytesParsed;
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
      const first = line + 1;
      let breaks = 0;
      for (const f of row) breaks += countBreaks(f, split);
      line = first + breaks;
      if (quoteError && k === quoteError.row) {
        // One bad row; the lines its broken quote swallowed, after the quote's own, are read again.
        // Where row k starts: the rows before it are sound (papaparse's first error is in row k).
        const from = k === 0 ? 0 : scanRecords(input, 0, split, false, k).end;
        // papaparse's index is just past the field's opening quote.
        const lineEnd = input.indexOf(split, Math.max(from, (quoteError.index ?? from + 1) - 1));
        const resume = lineEnd < 0 ? input.length : lineEnd + 1;
        line = first - 1;
        rejectSpan(input.slice(from, resume), split);
        return resume - (padded ? split.length : 0);
      }
      if (split === "\n") {
        const last = row[row.length - 1]!;
        if (last.endsWith("\r") && !(quotedCr && lastFieldQuoted(input, recordStart, recordEnd))) row[row.length - 1] = last.slice(0, -1);
      }
      if (row.length === 1 && row[0] === "") continue; // an empty line
      if (projection === null) { header(row); continue; }
      if (row.length !== width) { onReject(first, fieldCountFault(row.length, width)); continue; }
      // Only the columns coffee reads: the others are ignored (CONTRACT.md), whatever they hold.
      if (suspect && projection.some((c) => row[c]!.includes(BAD_BYTE_MARK))) { onReject(first, NOT_UTF8); continue; }
      for (let c = 0; c < ncols; c++) {
        const field = row[projection[c]!]!;
        batch.columns[c]!.pushString(field);
        // Batches are sized by the bytes they travel as: UTF-8.
        batch.bytes += Buffer.byteLength(field);
      }
      batch.lines.push(first);
      if (full()) close(startBytes + Math.round(((endBytes - startBytes) * (k + 1)) / count));
    }
    return text.length;
  };

  /** Parse `bytes` (ASCII, no quotes, whole records) by scanning for commas and line breaks. */
  const parseAscii = (bytes: Uint8Array, split: "\n" | "\r"): void => {
    const n = bytes.length;
    const last = split === "\r" ? CR : LF;
    let pos = 0;
    while (pos < n) {
      let fields = 0;
      let from = pos;
      let i = pos;
      for (; i < n; i++) {
        const c = bytes[i]!;
        if (c === COMMA) {
          if (fields < wanted.length) {
            const k = wanted[fields]!;
            if (k >= 0) { fieldFrom[k] = from; fieldTo[k] = i; }
          }
          fields++;
          from = i + 1;
        } else if (c === last) break;
      }
      // i is the record's line break (or n); its last field ends before the break, and before a
      // \r that comes with it.
      let end = i;
      if (last === LF && end > from && bytes[end - 1] === CR) end--;
      const next = i < n ? i + 1 : n;
      line++;
      if (fields === 0 && end === pos) { pos = next; continue; } // an empty line, skipped as papaparse skips it
      if (fields < wanted.length) {
        const k = wanted[fields]!;
        if (k >= 0) { fieldFrom[k] = from; fieldTo[k] = end; }
      }
      fields++;
      if (projection === null) {
        header(Buffer.from(bytes.buffer, bytes.byteOffset + pos, end - pos).toString("latin1").split(","));
      } else if (fields !== width) {
        onReject(line, fieldCountFault(fields, width));
      } else {
        for (let k = 0; k < ncols; k++) {
          batch.columns[k]!.pushBytes(bytes, fieldFrom[k]!, fieldTo[k]!);
          batch.bytes += fieldTo[k]! - fieldFrom[k]!;
        }
        batch.lines.push(line);
        if (full()) close(bytesParsed + next);
      }
      pos = next;
    }
    bytesParsed += n;
  };

  /** Inside a line over MAX_PENDING_BYTES, already rejected: its bytes up to its line break are dropped. */
  let inLongLine = false;

  /** Parse the whole records at the head of `pending` (all of it when `final`); returns the rest (may be a view of `pending`). */
  const parsePending = (pending: Buffer, split: "\n" | "\r", final: boolean): Buffer => {
    if (inLongLine) {
      const lineBreak = pending.indexOf(split);
      if (lineBreak < 0) {
        bytesParsed += pending.length;
        return pending.subarray(pending.length);
      }
      inLongLine = false;
      bytesParsed += lineBreak + 1;
      pending = pending.subarray(lineBreak + 1);
    }
    let cut = final ? pending.length : pending.lastIndexOf(split);
    if (!final && cut >= 0) cut += 1;
    if (cut < 0 && pending.length > MAX_PENDING_BYTES) {
      // No record coffee takes is this long (a field is at most 4 MiB at the gateway): one bad
      // row, dropped whole up to its line break. Parsed in pieces, each piece was a row and a
      // line of its own, and every later line number of the file was off.
      if (projection === null) throw new DatasetError(`${file}: its first line is over ${MAX_PENDING_MIB} MiB with no line break; a CSV file starts with its header`);
      onReject(++line, LONG_LINE);
      inLongLine = true;
      bytesParsed += pending.length;
      return pending.subarray(pending.length);
    }
    if (cut <= 0) return pending;
    const head = pending.subarray(0, cut);
    if (head.indexOf(QUOTE) < 0 && isAscii(head)) {
      parseAscii(head, split);
      return pending.subarray(cut);
    }
    // Quotes may hold line breaks, so records are found on the text, reading quotes as papaparse
    // does; a record whose quote is broken is one bad row, and scanning goes on past the line its
    // quote opened on, in this same pass (one pass per chunk, however many such rows it holds).
    const startBytes = bytesParsed;
    const text = isUtf8(head) ? decoder.decode(head) : decodeMarkingBadBytes(head);
    let pos = 0;
    /** Where text[pos] is in the file, for progress displays. */
    let byteAt = bytesParsed;
    /** Parse the records in text[from, to); true when papaparse took all of them (pos is then `to`). */
    const parseSegment = (from: number, to: number): boolean => {
      const segment = text.slice(from, to);
      const bytes = Buffer.byteLength(segment);
      bytesParsed = byteAt;
      const consumed = parseText(segment, byteAt + bytes, split);
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
      // Which quote is to blame is papaparse's call (its error index), so the reader agrees with
      // one papaparse read of the whole file; it reads this one record only.
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
      rejectSpan(span, split);
      byteAt += Buffer.byteLength(span);
      pos = resume;
    }
    const restText = text.slice(pos);
    // Back to bytes with its bad bytes still bad, so the next decode marks them again.
    const rest = restText === "" ? pending.subarray(cut) : Buffer.concat([encodeKeepingBadBytes(restText), pending.subarray(cut)]);
    bytesParsed = startBytes + pending.length - rest.length;
    return rest;
  };

  // One buffer for the whole file: each read lands after the unparsed rest of the one before,
  // so no chunk is allocated or concatenated (fresh memory is a page fault per 4 KiB).
  let buf = Buffer.allocUnsafe(2 * chunkBytes);
  let held = 0;
  let atStart = true;
  // Guessed once per file, before the first cut, from as much text as papaparse would look at.
  let split: "\n" | "\r" | null = opts.newline ? splitOn(opts.newline) : null;
  const handle = await open(file, "r");
  try {
    for (;;) {
      if (buf.length - held < chunkBytes) {
        const grown = Buffer.allocUnsafe(2 * buf.length);
        buf.copy(grown, 0, 0, held);
        buf = grown;
      }
      const { bytesRead: n } = await handle.read(buf, held, chunkBytes, null);
      if (n === 0) break;
      bytesRead += n;
      held += n;
      if (atStart) {
        if (held < UTF8_BOM.length) continue;
        if (buf.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) { buf.copy(buf, 0, UTF8_BOM.length, held); held -= UTF8_BOM.length; bytesParsed = UTF8_BOM.length; }
        atStart = false;
      }
      if (split === null) {
        // Never more characters than bytes: until enough bytes are held there is nothing to decode.
        if (held < NEWLINE_GUESS_CHARS) continue;
        const head = decoder.decode(buf.subarray(0, Math.min(held, NEWLINE_GUESS_CHARS * 4)));
        if (head.length < NEWLINE_GUESS_CHARS) continue;
        split = splitOn(guessNewline(head));
      }
      const rest = parsePending(buf.subarray(0, held), split, false);
      // A re-encoded rest (papaparse path, bytes that were not UTF-8) can outgrow the buffer.
      if (rest.length > buf.length) buf = Buffer.allocUnsafe(2 * rest.length);
      held = rest.copy(buf, 0);
      while (ready.length > 0) yield ready.shift()!;
    }
  } finally {
    await handle.close();
  }
  // (A file shorter than a BOM ends the loop with atStart still set; it cannot hold one.)
  const pending = buf.subarray(0, held);
  if (pending.length > 0) {
    split ??= splitOn(guessNewline(decoder.decode(pending)));
    // Final: every broken quote is dealt with in the one pass, so nothing is handed back.
    parsePending(pending, split, true);
  }
  if (batch.lines.length > 0) close(bytesRead);
  while (ready.length > 0) yield ready.shift()!;
}

function emptyBatch(ncols: number): OpenBatch {
  return { columns: Array.from({ length: ncols }, () => new ColumnBuilder()), lines: [], bytes: 0 };
}
