/**
 * Where the CSV reader's records go once split into fields: the header picks the columns coffee
 * reads, a row of the wrong width or with bad bytes in a read column is rejected with its line,
 * and the rest fill batches cut by rows and bytes. Both ways of splitting records (the byte scan
 * of src/asciiRecords.ts and papaparse in src/quotedRecords.ts) feed one batcher per file, so
 * line numbers and batches do not depend on which way a chunk took.
 */
import { BAD_BYTE_MARK } from "./badBytes.ts";
import { ColumnBuilder } from "./columnBuilder.ts";
import { DatasetError } from "./errors.ts";
import { ENTITY_COLUMNS, type Entity } from "./schema.ts";
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

/** Called with each rejected row's first line and why. */
export type OnReject = (line: number, reason: string) => void;

// Reasons for rows the reader rejects (the gateway's are src/rowFault.ts's): these two here, a
// broken quote's in src/quotedRecords.ts, an over-long line's in src/csvSource.ts.
const NOT_UTF8 = "bytes that are not UTF-8";

/** The reason for a row of `fields` fields in a file whose header has `width`. */
function fieldCountFault(fields: number, width: number): string {
  return `${fields} field${fields === 1 ? "" : "s"} where the header has ${width}`;
}

/**
 * `text` safe to print on a terminal, at most 200 characters: a binary file's "header" would
 * otherwise send control bytes (escape sequences) to the user's terminal.
 */
function printable(text: string): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return safe.length > 200 ? `${safe.slice(0, 200)}...` : safe;
}

/**
 * Map each needed column to its index in a header row. A missing column is a DatasetError, and so
 * is a needed column named twice: which of the two holds the values is a guess (readers differ:
 * Python's DictReader takes the last), and a wrong guess changes the reports without a word.
 */
export function projectHeader(file: string, entity: Entity, header: readonly string[]): number[] {
  const trimmed = header.map((h) => h.trim().replace(/^\uFEFF/, ""));
  return ENTITY_COLUMNS[entity].map((name) => {
    const idx = trimmed.indexOf(name);
    if (idx < 0) throw new DatasetError(`${file}: header has no column "${name}" (found: ${printable(trimmed.join(","))})`);
    const again = trimmed.indexOf(name, idx + 1);
    if (again >= 0) throw new DatasetError(`${file}: header has column "${name}" twice (fields ${idx + 1} and ${again + 1}): which one holds the values is ambiguous`);
    return idx;
  });
}

/** Cuts one file's rows into batches; the parsers advance `line` and `bytesParsed` as they consume the file. */
export class RowBatcher {
  /** The last line of the file consumed so far. */
  line = 0;
  /** Bytes of the file consumed by the parses so far (the BOM included). */
  bytesParsed = 0;
  /** Projected column of each field of a record, -1 for the others; empty until the header. */
  wanted = new Int32Array(0);
  /** Columns coffee reads, in ENTITY_COLUMNS order. */
  readonly ncols: number;
  /** Field index of each read column; null until the header. */
  private projection: number[] | null = null;
  /** Fields in the header. */
  private width = 0;
  private readonly columns: ColumnBuilder[];
  private lines: number[] = [];
  /** UTF-8 bytes of the open batch's fields. */
  private bytes = 0;
  private readonly ready: TextBatch[] = [];

  constructor(
    readonly file: string,
    private readonly entity: Entity,
    private readonly onReject: OnReject,
    private readonly batchRows: number,
    private readonly batchBytes: number,
  ) {
    this.ncols = ENTITY_COLUMNS[entity].length;
    this.columns = Array.from({ length: this.ncols }, () => new ColumnBuilder());
  }

  /** Whether the header was read. */
  get hasHeader(): boolean {
    return this.projection !== null;
  }

  /** Take `row` as the file's header. */
  header(row: readonly string[]): void {
    const projection = projectHeader(this.file, this.entity, row);
    this.projection = projection;
    this.width = row.length;
    this.wanted = new Int32Array(row.length).fill(-1);
    projection.forEach((field, k) => { this.wanted[field] = k; });
  }

  /** Reject the row starting at `line`. */
  reject(line: number, reason: string): void {
    this.onReject(line, reason);
  }

  /** Whether a record of `fields` fields has the header's width; if not, it is rejected. */
  fits(line: number, fields: number): boolean {
    if (fields === this.width) return true;
    this.onReject(line, fieldCountFault(fields, this.width));
    return false;
  }

  /**
   * Add a row papaparse decoded (after the header; of the header's width). With `suspect` (its
   * text held bytes that were not UTF-8, marked by src/badBytes.ts), a row with a mark in a
   * column coffee reads is rejected instead: the columns it ignores may hold anything. Returns
   * whether the row was added.
   */
  addStrings(row: readonly string[], line: number, suspect: boolean): boolean {
    const projection = this.projection!;
    if (suspect && projection.some((c) => row[c]!.includes(BAD_BYTE_MARK))) {
      this.onReject(line, NOT_UTF8);
      return false;
    }
    for (let c = 0; c < this.ncols; c++) {
      const field = row[projection[c]!]!;
      this.columns[c]!.pushString(field);
      // Batches are sized by the bytes they travel as: UTF-8.
      this.bytes += Buffer.byteLength(field);
    }
    this.lines.push(line);
    return true;
  }

  /** Add a row whose read column k is `bytes[from[k], to[k])` (after the header; of its width). */
  addBytes(bytes: Uint8Array, from: Int32Array, to: Int32Array, line: number): void {
    for (let k = 0; k < this.ncols; k++) {
      this.columns[k]!.pushBytes(bytes, from[k]!, to[k]!);
      this.bytes += to[k]! - from[k]!;
    }
    this.lines.push(line);
  }

  /** Whether the open batch is due to be cut. */
  full(): boolean {
    return this.lines.length >= this.batchRows || this.bytes >= this.batchBytes;
  }

  /** Cut the open batch, its last row ending `at` bytes into the file. */
  cut(at: number): void {
    this.ready.push({ file: this.file, columns: this.columns.map((c) => c.finish()), lines: this.lines, bytesRead: at });
    // The builders are kept: their buffers have grown to a batch's size already.
    this.lines = [];
    this.bytes = 0;
  }

  /** Cut what is open, if anything: the file ended `at` bytes. */
  end(at: number): void {
    if (this.lines.length > 0) this.cut(at);
  }

  /** The batches cut since the last call, oldest first. */
  take(): TextBatch[] {
    return this.ready.splice(0);
  }
}
