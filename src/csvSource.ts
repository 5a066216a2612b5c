/**
 * Streams one entity's CSV files as batches of projected text columns, never holding a whole
 * file. Shared by the client and `coffee reference`, so both reject exactly the same rows.
 */
import { isAscii } from "node:buffer";
import { open } from "node:fs/promises";
import { parseAsciiRecords } from "./asciiRecords.ts";
import { QUOTE } from "./csvRecords.ts";
import { DatasetError } from "./errors.ts";
import { MAX_PENDING_BYTES, parseQuotedRecords } from "./quotedRecords.ts";
import { RowBatcher, type OnReject, type TextBatch } from "./rowBatcher.ts";
import type { Entity } from "./schema.ts";
import { decodeUtf8 } from "./utf8.ts";

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

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const MAX_PENDING_MIB = MAX_PENDING_BYTES / (1024 * 1024);
const LONG_LINE = `a line of over ${MAX_PENDING_MIB} MiB with no line break`;

/**
 * Read one file and yield batches of at most `batchRows` rows, cut earlier once their fields
 * hold `batchBytes` bytes (the broker is cheap per byte and dear per message, so batches
 * are sized by bytes; the row cap keeps them under the gateway's --max-batch-rows). A row's
 * line number is the file's line it starts on (empty lines and line breaks inside quoted fields
 * counted), the header's being 1 when it is first. `onReject` receives, with the reason, rows
 * with the wrong number of fields, bytes that are not UTF-8 in a column coffee reads, a quote
 * that does not close (src/quotedRecords.ts), or a line too long to be a record.
 *
 * The file is read in chunks of `chunkBytes`, each cut after its last complete record. A chunk
 * that is all ASCII and holds no quote is split by scanning its bytes (src/asciiRecords.ts);
 * any other is decoded and parsed by papaparse (src/quotedRecords.ts).
 */
export async function* readEntityFile(file: string, entity: Entity, onReject: OnReject, opts: ReadOptions): AsyncGenerator<TextBatch> {
  const { batchRows, batchBytes = Infinity, chunkBytes = DEFAULT_CHUNK_BYTES } = opts;
  const to = new RowBatcher(file, entity, onReject, batchRows, batchBytes);
  let bytesRead = 0;
  /** Inside a line over MAX_PENDING_BYTES, already rejected: its bytes up to its line break are dropped. */
  let inLongLine = false;

  /** Parse the whole records at the head of `pending` (all of it when `final`); returns the rest (may be a view of `pending`). */
  const parsePending = (pending: Buffer, split: "\n" | "\r", final: boolean): Buffer => {
    if (inLongLine) {
      const lineBreak = pending.indexOf(split);
      if (lineBreak < 0) {
        to.bytesParsed += pending.length;
        return pending.subarray(pending.length);
      }
      inLongLine = false;
      to.bytesParsed += lineBreak + 1;
      pending = pending.subarray(lineBreak + 1);
    }
    let cut = final ? pending.length : pending.lastIndexOf(split);
    if (!final && cut >= 0) cut += 1;
    if (cut < 0 && pending.length > MAX_PENDING_BYTES) {
      // No record coffee takes is this long (a field is at most 4 MiB at the gateway): one bad
      // row, dropped whole up to its line break. Parsed in pieces, each piece was a row and a
      // line of its own, and every later line number of the file was off.
      if (!to.hasHeader) throw new DatasetError(`${file}: its first line is over ${MAX_PENDING_MIB} MiB with no line break; a CSV file starts with its header`);
      to.reject(++to.line, LONG_LINE);
      inLongLine = true;
      to.bytesParsed += pending.length;
      return pending.subarray(pending.length);
    }
    if (cut <= 0) return pending;
    const head = pending.subarray(0, cut);
    if (head.indexOf(QUOTE) < 0 && isAscii(head)) {
      parseAsciiRecords(head, split, to);
      return pending.subarray(cut);
    }
    return parseQuotedRecords(pending, cut, split, final, to);
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
        if (buf.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) { buf.copy(buf, 0, UTF8_BOM.length, held); held -= UTF8_BOM.length; to.bytesParsed = UTF8_BOM.length; }
        atStart = false;
      }
      if (split === null) {
        // Never more characters than bytes: until enough bytes are held there is nothing to decode.
        if (held < NEWLINE_GUESS_CHARS) continue;
        const head = decodeUtf8(buf.subarray(0, Math.min(held, NEWLINE_GUESS_CHARS * 4)));
        if (head.length < NEWLINE_GUESS_CHARS) continue;
        split = splitOn(guessNewline(head));
      }
      const rest = parsePending(buf.subarray(0, held), split, false);
      // A re-encoded rest (papaparse path, bytes that were not UTF-8) can outgrow the buffer.
      if (rest.length > buf.length) buf = Buffer.allocUnsafe(2 * rest.length);
      held = rest.copy(buf, 0);
      yield* to.take();
    }
  } finally {
    await handle.close();
  }
  // (A file shorter than a BOM ends the loop with atStart still set; it cannot hold one.)
  const pending = buf.subarray(0, held);
  if (pending.length > 0) {
    split ??= splitOn(guessNewline(decodeUtf8(pending)));
    // Final: every broken quote is dealt with in the one pass, so nothing is handed back.
    parsePending(pending, split, true);
  }
  to.end(bytesRead);
  yield* to.take();
}
