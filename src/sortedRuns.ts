/**
 * Sorted runs on disk for an external sort of (id, cents) rows: Q1's result is every matching
 * transaction sorted by id, so its state grows with rows; past a bound the rows go to disk as a
 * sorted run file and the final result is a k-way merge of the runs, streamed.
 *
 * Run file: rows sorted by id (code points), then cents, each `u32 id byte length, UTF-8 id, f64 cents`
 * (little endian), then (in `*.run` files) a trailer `u32 rows | u32 crc32 of the rows' bytes |
 * u32 magic "CRN1"`, checked before a merge yields anything: a run cut at a row boundary or with a
 * byte changed is WAL_CORRUPT, never a short or wrong result. Written once; fsynced (file and
 * folders) before a snapshot lists it, not before: the records it was made from are in the log
 * until a snapshot, and a replay writes it again. Earlier formats are still read, unchecked, for a
 * session's state from before: `*.rows` (no trailer) and `*.bin` (a u16 length, which held ids up
 * to 64 KiB only). Q1 names new runs `*.run`. Runs of coffee 0.1.0 builds before code point order were sorted by UTF-16 code
 * units; the two orders differ only where ids first differ at a character above U+FFFF against
 * one in U+E000–U+FFFF, so a session open across that upgrade is exact unless its ids do that.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fsyncFailure, writeAll } from "./durableFs.ts";
import { errorMessage, InternalError, WalError } from "./errors.ts";
import { compareCodePoints } from "./textOrder.ts";
import { decodeUtf8 } from "./utf8.ts";

/** One row of a run. */
export interface RunRow {
  id: string;
  cents: number;
}

/** Bytes of a row's id length: 2 in `*.bin` files (the first format), else 4. */
export const lengthBytesOf = (path: string): 2 | 4 => (path.endsWith(".bin") ? 2 : 4);

/** Whether a run file ends in a trailer (`*.run`, the current format). */
const hasTrailer = (path: string): boolean => path.endsWith(".run");
const TRAILER_BYTES = 12;
/** "CRN1": the trailer's last word, which a run cut short has lost. */
const TRAILER_MAGIC = 0x43524e31;

const encoder = new TextEncoder();

/**
 * Indexes of the rows in (id, cents) order, ids by code points. A repeated transaction id comes
 * out in the same order however the rows arrived (worker interleaving, replica counts), the
 * order the reference gives it.
 */
export function sortedOrder(ids: readonly string[], cents: readonly number[]): number[] {
  const order = ids.map((_, i) => i);
  order.sort((a, b) => {
    return compareCodePoints(ids[a]!, ids[b]!) || cents[a]! - cents[b]!;
  });
  return order;
}

/** True when row (id, cents) comes before row (otherId, otherCents). */
const before = (id: string, cents: number, otherId: string, otherCents: number): boolean => {
  const byId = compareCodePoints(id, otherId);
  return byId < 0 || (byId === 0 && cents < otherCents);
};

/**
 * Write the rows, sorted, to `path` (durable only once `makeRunsDurable` made it so). A failed
 * write is WAL_IO_FAILED: the run is part of the aggregator's state.
 */
export function writeRun(path: string, ids: readonly string[], cents: readonly number[]): void {
  const width = lengthBytesOf(path);
  const encoded = ids.map((id) => encoder.encode(id));
  const rowBytes = encoded.reduce((n, b) => n + width + b.length + 8, 0);
  const trailer = hasTrailer(path) ? TRAILER_BYTES : 0;
  const out = new Uint8Array(rowBytes + trailer);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const i of sortedOrder(ids, cents)) {
    const id = encoded[i]!;
    if (width === 2) {
      if (id.length > 0xffff) throw new InternalError(`id of ${id.length} bytes does not fit a row of ${path}`);
      view.setUint16(at, id.length, true);
    } else view.setUint32(at, id.length, true);
    out.set(id, at + width);
    view.setFloat64(at + width + id.length, cents[i]!, true);
    at += width + id.length + 8;
  }
  if (trailer > 0) {
    view.setUint32(at, ids.length, true);
    view.setUint32(at + 4, Bun.hash.crc32(out.subarray(0, rowBytes)), true);
    view.setUint32(at + 8, TRAILER_MAGIC, true);
  }
  try {
    writeWhole(path, out);
  } catch (err) {
    throw new WalError("WAL_IO_FAILED", `writing sorted run ${path}: ${errorMessage(err)}`);
  }
}

/**
 * `bytes` as the whole of `path` (its folder created if missing), not fsynced: a run is made
 * durable before a snapshot lists it (`makeRunsDurable`). Until then the log's records it was
 * made from are what survives a crash of the machine, and replaying them writes it again.
 */
function writeWhole(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, "w");
  try {
    writeAll(fd, bytes, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Make the runs at `paths` durable with their directory entries: each run, the folder holding
 * it and every folder from there up to `root` (the folder whose own entry is already durable),
 * a few fsyncs at a time through `sync` (on Bun's thread pool). A run no longer there was deleted
 * with its session, whose end is durable: nothing refers to it. A failure is WAL_FSYNC_FAILED
 * (or WAL_IO_FAILED), fatal as the log's own.
 */
export async function makeRunsDurable(paths: readonly string[], root: string, sync: (fd: number, kind: DurableKind) => Promise<void>): Promise<void> {
  const top = resolve(root);
  const folders = new Set<string>();
  for (const path of paths) {
    for (let d = dirname(resolve(path)); d !== top; d = dirname(d)) {
      if (d === dirname(d)) throw new InternalError(`sorted run ${path} is not under ${root}`);
      folders.add(d);
    }
  }
  folders.add(top);
  const syncOne = async (path: string, kind: DurableKind): Promise<void> => {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      // Deleted with its session since (its run, or its folder), whose end is durable.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new WalError("WAL_IO_FAILED", `making ${kind === "file" ? "sorted run" : "the folder"} ${path} durable: ${errorMessage(err)}`);
    }
    try {
      await sync(fd, kind);
    } catch (err) {
      throw fsyncFailure(kind === "file" ? `sorted run ${path}` : `directory ${path}`, err);
    } finally {
      closeSync(fd);
    }
  };
  const jobs: [string, DurableKind][] = [...paths.map((p): [string, DurableKind] => [p, "file"]), ...[...folders].map((d): [string, DurableKind] => [d, "directory"])];
  // A few at a time, not all: a small --spill-rows writes thousands of runs between snapshots,
  // each an open descriptor while its fsync waits, and the thread pool's queue is shared with
  // the log's commits.
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let job = jobs[next++]; job !== undefined; job = jobs[next++]) await syncOne(job[0], job[1]);
  };
  await Promise.all(Array.from({ length: Math.min(RUN_FSYNCS_AT_ONCE, jobs.length) }, worker));
}

/** What `makeRunsDurable` fsyncs: a run, or a folder holding one. */
type DurableKind = "file" | "directory";

/** Run and folder fsyncs `makeRunsDurable` keeps under way at once. */
const RUN_FSYNCS_AT_ONCE = 8;

/** What a run's trailer says: its rows and the bytes they take. Null for formats without one. */
interface RunCheck {
  rows: number;
  rowBytes: number;
}

/**
 * Check the run at `path` against its trailer (length, magic, CRC of every row byte), reading it
 * once through `buf`; WAL_CORRUPT naming the file and what is wrong. Formats without a trailer
 * pass unchecked (null).
 */
function checkRun(path: string, fd: number, buf: Uint8Array): RunCheck | null {
  if (!hasTrailer(path)) return null;
  const size = fstatSync(fd).size;
  const corrupt = (why: string): WalError => new WalError("WAL_CORRUPT", `sorted run ${path} ${why}; the session's Q1 rows cannot be trusted`);
  if (size < TRAILER_BYTES) throw corrupt(`is ${size} bytes, shorter than its trailer`);
  const trailer = new Uint8Array(TRAILER_BYTES);
  if (readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES) !== TRAILER_BYTES) throw corrupt("could not be read to its end");
  const t = new DataView(trailer.buffer);
  if (t.getUint32(8, true) !== TRAILER_MAGIC) throw corrupt("has no trailer (cut short?)");
  const rowBytes = size - TRAILER_BYTES;
  let crc = 0;
  for (let off = 0; off < rowBytes; ) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, rowBytes - off), off);
    if (got === 0) throw corrupt("could not be read to its end");
    crc = Bun.hash.crc32(buf.subarray(0, got), crc);
    off += got;
  }
  if (crc !== t.getUint32(4, true)) throw corrupt("fails its CRC (a byte changed on disk?)");
  return { rows: t.getUint32(0, true), rowBytes };
}

/** Reads a run file row by row through a fixed buffer, up to its trailer if it has one. */
class RunReader {
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;
  /** File offset of the next read. */
  private pos = 0;
  /** Bytes of rows in the file (all of it without a trailer). */
  private readonly limit: number;
  private rows = 0;
  /** The trailer's word on the run (checked already), null for formats without one. */
  private readonly check: RunCheck | null;
  head: RunRow | null = null;

  constructor(private readonly path: string, private readonly fd: number, private readonly width: 2 | 4) {
    this.check = checkRun(path, fd, this.buf);
    this.limit = this.check?.rowBytes ?? Infinity;
    this.advance();
  }

  /** Bytes available, refilling the buffer (keeping the unread tail) when fewer than `n`. */
  private ensure(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.eof) return false;
    if (n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(n, this.buf.length * 2));
      bigger.set(this.buf.subarray(this.start, this.end));
      this.buf = bigger;
    } else this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    while (this.end - this.start < n && !this.eof) {
      const want = Math.min(this.buf.length - this.end, this.limit - this.pos);
      const got = want === 0 ? 0 : readSync(this.fd, this.buf, this.end, want, this.pos);
      if (got === 0) this.eof = true;
      this.end += got;
      this.pos += got;
    }
    return this.end - this.start >= n;
  }

  /** Move `head` to the next row (null at the end). */
  advance(): void {
    const w = this.width;
    if (!this.ensure(w)) {
      if (this.end > this.start) throw this.corrupt("ends inside a row");
      if (this.check && this.rows !== this.check.rows) throw this.corrupt(`holds ${this.rows} rows, its trailer says ${this.check.rows}`);
      this.head = null;
      return;
    }
    const lengthView = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, w);
    const len = w === 2 ? lengthView.getUint16(0, true) : lengthView.getUint32(0, true);
    if (!this.ensure(w + len + 8)) throw this.corrupt("ends inside a row");
    const id = decodeUtf8(this.buf.subarray(this.start + w, this.start + w + len));
    const cents = new DataView(this.buf.buffer, this.buf.byteOffset + this.start + w + len, 8).getFloat64(0, true);
    this.start += w + len + 8;
    this.rows++;
    this.head = { id, cents };
  }

  private corrupt(why: string): WalError {
    return new WalError("WAL_CORRUPT", `sorted run ${this.path} ${why}`);
  }
}

/**
 * Every row of the runs at `paths` and of the in-memory rows, merged in (id, cents) order.
 */
export function* mergeRuns(paths: readonly string[], ids: readonly string[], cents: readonly number[]): Generator<RunRow> {
  const fds = paths.map((p) => openSync(p, "r"));
  try {
    // Each run is checked whole as its reader opens, before the merge yields a row.
    const readers = fds.map((fd, i) => new RunReader(paths[i]!, fd, lengthBytesOf(paths[i]!)));
    const order = sortedOrder(ids, cents);
    let m = 0;
    for (;;) {
      // k is small (one run per tens of thousands of rows): a linear scan beats a heap here.
      let best = -1;
      let bestId = "";
      let bestCents = 0;
      for (let r = 0; r < readers.length; r++) {
        const h = readers[r]!.head;
        if (h && (best < 0 || before(h.id, h.cents, bestId, bestCents))) { best = r; bestId = h.id; bestCents = h.cents; }
      }
      if (m < order.length) {
        const memId = ids[order[m]!]!;
        const memCents = cents[order[m]!]!;
        if (best < 0 || before(memId, memCents, bestId, bestCents)) {
          yield { id: memId, cents: memCents };
          m++;
          continue;
        }
      }
      if (best < 0) return;
      const reader = readers[best]!;
      yield reader.head!;
      reader.advance();
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
