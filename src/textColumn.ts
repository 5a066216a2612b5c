/**
 * A column of text fields as one run of UTF-8 bytes plus each field's end offset. Batches travel
 * from client to gateway this way: bytes read from a CSV file go out as they were read, msgpack
 * carries them as one binary value per column, the gateway parses numbers in place
 * (src/fields.ts `...At(bytes, from, to)`) and only the few fields that stay text become strings.
 */
import { isAscii, isUtf8 } from "node:buffer";

/**
 * Field i is bytes[ends[i - 1] ?? 0 .. ends[i]), UTF-8. Columns made here hold a Buffer: msgpackr
 * packs a Buffer as plain binary, which decodes as a view of the message (a plain Uint8Array
 * would travel as a typed-array extension, copied on every decode).
 */
export interface TextColumn {
  bytes: Uint8Array;
  ends: Uint32Array;
}

const encoder = new TextEncoder();

/** Whether bytes[from, to) are UTF-8: a text field the gateway keeps (U+FFFD is a character like any other). */
export function isCleanText(bytes: Uint8Array, from: number, to: number): boolean {
  const field = Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from);
  return isAscii(field) || isUtf8(field);
}

/**
 * Mark in `mask` (made when needed) the first `rows` fields of `column` that are not clean text
 * (isCleanText); returns the mask. One check for a column that is all ASCII, as nearly all are;
 * otherwise field by field, since a character cut between two fields is valid across them.
 */
export function markUncleanText(column: TextColumn, rows: number, mask: Uint8Array | null): Uint8Array | null {
  if (rows === 0 || isAscii(column.bytes.subarray(0, column.ends[rows - 1]!))) return mask;
  for (let r = 0; r < rows; r++) {
    if (!isCleanText(column.bytes, fieldStart(column, r), column.ends[r]!)) (mask ??= new Uint8Array(rows))[r] = 1;
  }
  return mask;
}

/** Pack fields into a column. */
export function packColumn(fields: readonly string[]): TextColumn {
  const parts = fields.map((f) => encoder.encode(f));
  const ends = new Uint32Array(fields.length);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    at += parts[i]!.length;
    ends[i] = at;
  }
  const bytes = Buffer.allocUnsafe(at);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i]!, i === 0 ? 0 : ends[i - 1]!);
  return { bytes, ends };
}

/** The column with its bytes as a Buffer view (no copy), so msgpackr packs them as plain binary. */
export function asBinary(column: TextColumn): TextColumn {
  const { bytes, ends } = column;
  return Buffer.isBuffer(bytes) ? column : { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), ends };
}

/** Start offset of field i. */
export function fieldStart(column: TextColumn, i: number): number {
  return i === 0 ? 0 : column.ends[i - 1]!;
}

/**
 * A reader of the column's fields as strings (each call allocates one). One Buffer view for the
 * column: its toString(range) decodes about twice as fast as a TextDecoder over a subarray.
 */
export function fieldReader(column: TextColumn): (i: number) => string {
  const { bytes, ends } = column;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return (i) => view.toString("utf8", fieldStart(column, i), ends[i]!);
}

/** Every field as a string (where fields must become strings: Q1's ids, names). */
export function unpackColumn(column: TextColumn): string[] {
  const read = fieldReader(column);
  return Array.from(column.ends, (_, i) => read(i));
}

/** A column of the fields of `column` at the given rows, in that order (bytes copied). */
export function selectFields(column: TextColumn, rows: ArrayLike<number>): TextColumn {
  let size = 0;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    size += column.ends[r]! - fieldStart(column, r);
  }
  const bytes = Buffer.allocUnsafe(size);
  const ends = new Uint32Array(rows.length);
  const src = column.bytes;
  let at = 0;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    // A loop beats bytes.set(subarray) for fields of a few dozen bytes: no view per field.
    for (let i = fieldStart(column, r), to = column.ends[r]!; i < to; i++) bytes[at++] = src[i]!;
    ends[k] = at;
  }
  return { bytes, ends };
}

/** Why `column` is not a well-formed column of `rows` fields, or null when it is. */
export function columnProblem(column: unknown, rows: number): string | null {
  if (typeof column !== "object" || column === null || Array.isArray(column)) return "a column must be {bytes, ends}";
  const { bytes, ends } = column as { bytes?: unknown; ends?: unknown };
  if (!(bytes instanceof Uint8Array) || !(ends instanceof Uint32Array)) return "a column must be {bytes: Uint8Array, ends: Uint32Array}";
  if (Object.keys(column).length !== 2) return "a column has exactly the keys bytes and ends";
  if (ends.length !== rows) return `a column must hold ${rows} fields, not ${ends.length}`;
  let last = 0;
  for (let i = 0; i < ends.length; i++) {
    if (ends[i]! < last) return "column field ends must not decrease";
    last = ends[i]!;
  }
  if (last !== bytes.length) return `column field ends stop at ${last}, its bytes are ${bytes.length}`;
  return null;
}

/**
 * Rows (by index) of `columns` with a field longer than `maxBytes`, as a mask, or null when there
 * are none (the common case costs one pass over each column's ends and no allocation).
 */
export function rowsWithLongFields(columns: readonly TextColumn[], rows: number, maxBytes: number): Uint8Array | null {
  let mask: Uint8Array | null = null;
  for (const column of columns) {
    let prev = 0;
    for (let r = 0; r < rows; r++) {
      const end = column.ends[r]!;
      if (end - prev > maxBytes) (mask ??= new Uint8Array(rows))[r] = 1;
      prev = end;
    }
  }
  return mask;
}
