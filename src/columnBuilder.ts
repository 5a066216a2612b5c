/**
 * Builds one packed column (src/textColumn.ts) field by field, straight from a file's bytes or
 * from strings (fields papaparse decoded), into one growing byte buffer: a batch costs one
 * buffer per column, not one string per field.
 */
import type { TextColumn } from "./textColumn.ts";

const INITIAL_BYTES = 64 * 1024;
const INITIAL_FIELDS = 1024;
const encoder = new TextEncoder();

/** One column of a batch while it fills. */
export class ColumnBuilder {
  private bytes = new Uint8Array(INITIAL_BYTES);
  private byteCount = 0;
  private ends = new Uint32Array(INITIAL_FIELDS);
  private fieldCount = 0;

  /** Append a field given as a string (stored as UTF-8). */
  pushString(field: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.reserve(field.length * 3);
    const { written } = encoder.encodeInto(field, this.bytes.subarray(this.byteCount));
    this.byteCount += written;
    this.pushEnd(this.byteCount);
  }

  /** Append the UTF-8 bytes src[from..to) as a field. */
  pushBytes(src: Uint8Array, from: number, to: number): void {
    this.reserve(to - from);
    const dst = this.bytes;
    let j = this.byteCount;
    // A loop beats dst.set(src.subarray()) for fields of a few bytes: no view allocated per field.
    for (let i = from; i < to; i++) dst[j++] = src[i]!;
    this.byteCount = j;
    this.pushEnd(j);
  }

  /** The packed column (its own copy); the builder is empty again afterwards, its buffers kept. */
  finish(): TextColumn {
    // A Buffer copy: see TextColumn for why a Buffer.
    const column: TextColumn = { bytes: Buffer.from(this.bytes.subarray(0, this.byteCount)), ends: this.ends.slice(0, this.fieldCount) };
    this.byteCount = 0;
    this.fieldCount = 0;
    return column;
  }

  private pushEnd(end: number): void {
    if (this.fieldCount === this.ends.length) {
      const grown = new Uint32Array(this.ends.length * 2);
      grown.set(this.ends);
      this.ends = grown;
    }
    this.ends[this.fieldCount++] = end;
  }

  private reserve(more: number): void {
    const atLeast = this.byteCount + more;
    if (atLeast <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < atLeast) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.byteCount));
    this.bytes = grown;
  }
}
