/**
 * Builds one packed text column (src/textColumn.ts) field by field, from strings or straight
 * from ASCII bytes of a file. Bytes are copied into a buffer and turned into one string per run
 * of byte fields, so a batch read from ASCII data costs one string per column, not one per field.
 */
import type { TextColumn } from "./textColumn.ts";

const INITIAL_BYTES = 64 * 1024;
const INITIAL_FIELDS = 1024;

/** One column of a batch while it fills. */
export class ColumnBuilder {
  private parts: string[] = [];
  /** Characters in `parts`. */
  private partChars = 0;
  private bytes = new Uint8Array(INITIAL_BYTES);
  private byteCount = 0;
  private ends = new Uint32Array(INITIAL_FIELDS);
  private fieldCount = 0;

  /** Append a field given as a string. */
  pushString(field: string): void {
    this.flushBytes();
    this.parts.push(field);
    this.partChars += field.length;
    this.pushEnd(this.partChars);
  }

  /** Append src[from..to) as a field; every byte must be ASCII (< 0x80), so bytes are characters. */
  pushAscii(src: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (this.byteCount + len > this.bytes.length) this.growBytes(this.byteCount + len);
    const dst = this.bytes;
    let j = this.byteCount;
    // A loop beats dst.set(src.subarray()) for fields of a few bytes: no view allocated per field.
    for (let i = from; i < to; i++) dst[j++] = src[i]!;
    this.byteCount = j;
    this.pushEnd(this.partChars + j);
  }

  /** The packed column; the builder is empty again afterwards. */
  finish(): TextColumn {
    this.flushBytes();
    const column: TextColumn = { text: this.parts.length === 1 ? this.parts[0]! : this.parts.join(""), ends: this.ends.slice(0, this.fieldCount) };
    this.parts = [];
    this.partChars = 0;
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

  private flushBytes(): void {
    if (this.byteCount === 0) return;
    // latin1 maps each byte to the character with that code: exact for ASCII, and one copy.
    this.parts.push(Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.byteCount).toString("latin1"));
    this.partChars += this.byteCount;
    this.byteCount = 0;
  }

  private growBytes(atLeast: number): void {
    let size = this.bytes.length * 2;
    while (size < atLeast) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.byteCount));
    this.bytes = grown;
  }
}
