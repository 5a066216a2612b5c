/**
 * The CSV reader's fast path: whole records of ASCII text with no quote, split on commas and
 * line breaks by scanning their bytes, which is all RFC 4180 (and papaparse) makes of such text.
 * Fields are copied into the batch's columns without a string per field: on the dataset's files
 * this costs a fifth of papaparse's time, and the client is the largest single cost of a run.
 */
import { COMMA, CR, LF } from "./csvRecords.ts";
import type { RowBatcher } from "./rowBatcher.ts";

/** Parse `bytes` (ASCII, no quotes, whole records) into `to`, advancing its line and byte counts. */
export function parseAsciiRecords(bytes: Uint8Array, split: "\n" | "\r", to: RowBatcher): void {
  const n = bytes.length;
  const last = split === "\r" ? CR : LF;
  // Per record: where each read field starts and ends.
  const fieldFrom = new Int32Array(to.ncols);
  const fieldTo = new Int32Array(to.ncols);
  let pos = 0;
  while (pos < n) {
    // Read per record: the header, once read, changes it.
    const wanted = to.wanted;
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
    const line = ++to.line;
    if (fields === 0 && end === pos) { pos = next; continue; } // an empty line, skipped as papaparse skips it
    if (fields < wanted.length) {
      const k = wanted[fields]!;
      if (k >= 0) { fieldFrom[k] = from; fieldTo[k] = end; }
    }
    fields++;
    if (!to.hasHeader) {
      to.header(Buffer.from(bytes.buffer, bytes.byteOffset + pos, end - pos).toString("latin1").split(","));
    } else if (to.fits(line, fields)) {
      to.addBytes(bytes, fieldFrom, fieldTo, line);
      if (to.full()) to.cut(to.bytesParsed + next);
    }
    pos = next;
  }
  to.bytesParsed += n;
}
