/**
 * Append-only write-ahead log with snapshots: the state store of every stateful process (its
 * state is a fold over the records, a snapshot is that fold at some lsn).
 *
 * Files in `dir` (all integers big-endian, lsn = record number, the first record is lsn 1):
 * - `wal-<first lsn, 16 digits>.log`: records, each `u32 length | u32 crc32 | u64 lsn | payload`,
 *   the CRC (Bun.hash.crc32, IEEE) covering `lsn | payload`.
 * - `snapshot-<lsn, 16 digits>.bin`: `u32 magic "CSN1" | u64 lsn | u32 crc32 | u32 length | state`,
 *   the CRC covering `lsn | length | state`; the state folds every record up to that lsn.
 * - `*.tmp`: a snapshot being written; never trusted.
 *
 * Durability: `commit()` writes every buffered record and issues ONE fdatasync (plus one more per
 * segment rollover, made before the next segment is written, and a directory fsync whenever a
 * file is created). `snapshot()` commits, writes temp → fsync → rename → fsync(dir), then deletes
 * the segments and older snapshots it covers (→ fsync(dir)); the next commit starts a new segment.
 * Data the records or a snapshot refer to outside the log is made durable first (`beforeWrite`).
 * Every fsync runs on Bun's thread pool, recovery's included, and writes run one after the
 * other: the process goes on (answering health checks, acking what is durable) while the disk
 * works, and a commit asked for meanwhile waits for the next write.
 * Any failed fsync or write is fatal: the Wal is poisoned and every later call throws the same
 * code. Nothing is ever retried (after a failed fsync the page cache state is unknown).
 *
 * Recovery rules (`Wal.open`), nothing on disk is changed before all of them passed:
 * 1. `*.tmp` files are deleted. The newest snapshot whose magic, name, length and CRC verify is
 *    used; newer invalid ones and every older one are deleted.
 * 2. Segments are read in lsn order; record lsns must be contiguous. A jump between segments is
 *    allowed only when every missing lsn is covered by the snapshot (an interrupted compaction);
 *    any other gap or overlap, or a segment whose first record does not carry its name's lsn, is
 *    WAL_CORRUPT.
 * 3. A bad record (short header, length past end of file, CRC mismatch) in an EARLIER segment is
 *    WAL_CORRUPT naming file and offset. In the LAST segment it is a torn tail, truncated
 *    (ftruncate + fsync) and reported in `truncatedBytes`, unless a valid record with a plausible
 *    lsn starts anywhere after it: committed data after a bad record is corruption, not a torn
 *    write, and we fail loudly rather than silently drop acknowledged records. A record with a
 *    valid CRC but an unexpected lsn is WAL_CORRUPT wherever it is.
 * 4. Records with lsn ≤ snapshot lsn are skipped; segments holding only such records are deleted
 *    (after the snapshot and its directory entry were fsynced). A segment followed by one that
 *    starts at or below snapshot lsn + 1 holds only such records and is not even read (rules 2
 *    and 3 do not apply to it): damage there loses nothing. The last segment is fsynced, so
 *    everything returned is durable, and appends continue in it.
 *
 * One Wal per directory at a time (the caller's job: one process owns its state dir).
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { crashPoint } from "./crashPoint.ts";
import { createDurableDirOffLoop, fsyncFailure, observedFsync, withDirectoryOffLoop, writeAll } from "./durableFs.ts";
import { ConfigError, errorMessage, InternalError, WalError, type WalErrorCode } from "./errors.ts";

/** Where a Wal lives and how it behaves. */
export interface WalOptions {
  /** Directory holding the segments and snapshots (created if missing). */
  dir: string;
  /** Roll over to a new segment once the current one holds at least this many bytes (default 64 MiB). */
  segmentBytes?: number;
  /**
   * @internal Test hook: replaces every fsync/fdatasync (files and directory); a promise it
   * returns is awaited. Never set in production.
   */
  fsync?: (fd: number) => void | Promise<void>;
  /**
   * Called after every successful fsync with its duration in seconds and kind (metrics; a hook
   * rather than an import, so the log does not depend on how it is observed).
   */
  onFsync?: (seconds: number, kind: WalSyncKind) => void;
  /**
   * Runs before records or a snapshot are written, to make durable what they refer to outside
   * the log (the gateway's result spool): a record on disk never points at data that is not. A
   * throw is fatal, like a failed fsync.
   */
  beforeWrite?: () => void | Promise<void>;
}

/** What an fsync made durable: appended records (fdatasync), a whole file, or a directory entry. */
export type WalSyncKind = "records" | "file" | "directory";

/** What `Wal.open` found on disk. */
export interface WalRecovery {
  /** The newest valid snapshot's state, or null when there is none. */
  snapshot: Uint8Array | null;
  /**
   * Payloads of the records after the snapshot, in lsn order, read again from the segment files
   * one at a time as the iteration goes (recovery validated them all first without keeping any):
   * replaying a long log holds one segment in memory, not all of it. Iterate before the log is
   * compacted by a snapshot (that deletes segments); records appended since are not included.
   */
  records(): Generator<Uint8Array>;
  /** How many records `records()` yields, and their payload bytes. */
  recordCount: number;
  recordBytes: number;
  /** Bytes of torn tail dropped from the last segment. */
  truncatedBytes: number;
}

/** Bytes of a record before its payload: length, CRC, lsn. */
export const RECORD_HEADER_BYTES = 16;
const SNAPSHOT_HEADER_BYTES = 20;
const SNAPSHOT_MAGIC = 0x43534e31; // "CSN1"
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const SEGMENT_NAME = /^wal-(\d{16})\.log$/;
const SNAPSHOT_NAME = /^snapshot-(\d{16})\.bin$/;
const TWO_32 = 2 ** 32;

/** File name of the segment whose first record is `firstLsn`. */
export function segmentFileName(firstLsn: number): string {
  return `wal-${String(firstLsn).padStart(16, "0")}.log`;
}

/** File name of the snapshot covering records up to `lsn`. */
export function snapshotFileName(lsn: number): string {
  return `snapshot-${String(lsn).padStart(16, "0")}.bin`;
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / TWO_32));
  view.setUint32(at + 4, value >>> 0);
}

/** -1 when the value does not fit a safe integer (never a valid lsn). */
function getU64(view: DataView, at: number): number {
  const hi = view.getUint32(at);
  return hi > 0x1fffff ? -1 : hi * TWO_32 + view.getUint32(at + 4);
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function encodeRecord(lsn: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = viewOf(out);
  view.setUint32(0, payload.length);
  setU64(view, 8, lsn);
  out.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(4, Bun.hash.crc32(out.subarray(8)));
  return out;
}

/** The record at `off`: its end and lsn, or why it is not a record. */
function recordAt(buf: Uint8Array, view: DataView, off: number): { end: number; lsn: number } | string {
  if (buf.length - off < RECORD_HEADER_BYTES) return `incomplete record header (${buf.length - off} bytes)`;
  const length = view.getUint32(off);
  const end = off + RECORD_HEADER_BYTES + length;
  if (end > buf.length) return `record length ${length} runs past the end of the file`;
  if (Bun.hash.crc32(buf.subarray(off + 8, end)) !== view.getUint32(off + 4)) return "record CRC mismatch";
  return { end, lsn: getU64(view, off + 8) };
}

/** Offset of the first valid record after `from` whose lsn could follow `expected`, or null. */
function validRecordAfter(buf: Uint8Array, view: DataView, from: number, expected: number): number | null {
  const maxLsn = expected + Math.floor((buf.length - from) / RECORD_HEADER_BYTES);
  for (let p = from + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    const lsn = getU64(view, p + 8);
    if (lsn < expected || lsn > maxLsn) continue;
    if (p + RECORD_HEADER_BYTES + view.getUint32(p) > buf.length) continue;
    if (typeof recordAt(buf, view, p) !== "string") return p;
  }
  return null;
}

function encodeSnapshot(lsn: number, state: Uint8Array): Uint8Array {
  const out = new Uint8Array(SNAPSHOT_HEADER_BYTES + state.length);
  const view = viewOf(out);
  view.setUint32(0, SNAPSHOT_MAGIC);
  setU64(view, 4, lsn);
  view.setUint32(16, state.length);
  out.set(state, SNAPSHOT_HEADER_BYTES);
  view.setUint32(12, snapshotCrc(out));
  return out;
}

function snapshotCrc(file: Uint8Array): number {
  const head = Bun.hash.crc32(file.subarray(4, 12));
  return Bun.hash.crc32(file.subarray(16), head);
}

/** The state in a snapshot file named for `lsn`, or why it is not valid. */
function decodeSnapshot(file: Uint8Array, lsn: number): Uint8Array | string {
  if (file.length < SNAPSHOT_HEADER_BYTES) return `only ${file.length} bytes`;
  const view = viewOf(file);
  if (view.getUint32(0) !== SNAPSHOT_MAGIC) return "bad magic";
  if (getU64(view, 4) !== lsn) return `header lsn ${getU64(view, 4)} differs from its name`;
  if (view.getUint32(16) !== file.length - SNAPSHOT_HEADER_BYTES) return "length differs from the file size";
  if (snapshotCrc(file) !== view.getUint32(12)) return "CRC mismatch";
  return file.subarray(SNAPSHOT_HEADER_BYTES);
}

function lsnOfName(name: string, pattern: RegExp): number | null {
  const m = pattern.exec(name);
  return m?.[1] === undefined ? null : Number(m[1]);
}

function concat(parts: Uint8Array[], bytes: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(bytes);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Calls the fsync function off the event loop, turning any failure into the fatal
 * WAL_FSYNC_FAILED: Bun runs an fsync given a callback on its thread pool, so a slow disk stalls
 * only what waits for it, not the health server, the broker's heartbeats or the acks of work
 * already durable (a synchronous fsync of 5 s froze all of them, and the monitors replaced
 * healthy processes mid-compaction).
 */
type AsyncSyncer = (fd: number, what: string, kind: WalSyncKind) => Promise<void>;

function makeAsyncSyncer(hook: WalOptions["fsync"], observe: WalOptions["onFsync"]): AsyncSyncer {
  return async (fd, what, kind) => {
    try {
      // Appended records need only their data and size on disk, not the other metadata.
      await observedFsync(fd, kind === "records", hook, observe && ((seconds) => observe(seconds, kind)));
    } catch (err) {
      throw fsyncFailure(what, err);
    }
  };
}

function syncDirLater(dir: string, sync: AsyncSyncer): Promise<void> {
  return withDirectoryOffLoop(dir, (fd) => sync(fd, `directory ${dir}`, "directory"));
}

/** Create the log's directory durably (src/durableFs.ts), its fsyncs through the log's own syncer. */
function ensureDir(dir: string, sync: AsyncSyncer): Promise<void> {
  return createDurableDirOffLoop(dir, (fd, d) => sync(fd, `directory ${d}`, "directory"));
}

interface SegmentScan {
  name: string;
  /** Last lsn this segment accounts for (firstLsn - 1 when it holds no record). */
  lastLsn: number;
  validBytes: number;
  fileBytes: number;
}

interface RecoveryPlan {
  snapshot: { lsn: number; name: string; state: Uint8Array } | null;
  recordCount: number;
  recordBytes: number;
  lastLsn: number;
  segments: SegmentScan[];
  discard: string[];
}

function corrupt(message: string): WalError {
  return new WalError("WAL_CORRUPT", message);
}

/** Read and validate everything in `dir`; changes nothing on disk. */
function planRecovery(dir: string): RecoveryPlan {
  const names = readdirSync(dir);
  const discard = names.filter((n) => n.endsWith(".tmp"));
  const snapshots = names
    .map((name) => ({ name, lsn: lsnOfName(name, SNAPSHOT_NAME) }))
    .filter((s): s is { name: string; lsn: number } => s.lsn !== null)
    .sort((a, b) => b.lsn - a.lsn);
  let snapshot: RecoveryPlan["snapshot"] = null;
  /** Snapshots newer than the one used that failed their check, with why. */
  const rejected: { name: string; lsn: number; reason: string }[] = [];
  for (const s of snapshots) {
    if (snapshot !== null) {
      discard.push(s.name);
      continue;
    }
    const state = decodeSnapshot(new Uint8Array(readFileSync(join(dir, s.name))), s.lsn);
    if (typeof state === "string") {
      discard.push(s.name);
      rejected.push({ ...s, reason: state });
    } else snapshot = { ...s, state };
  }
  const rejectedSaid = rejected.map((r) => `; ${r.name} failed its check (${r.reason})`).join("");
  const covered = snapshot?.lsn ?? 0;
  const segmentNames = names
    .map((name) => ({ name, lsn: lsnOfName(name, SEGMENT_NAME) }))
    .filter((s): s is { name: string; lsn: number } => s.lsn !== null)
    .sort((a, b) => a.lsn - b.lsn);
  let recordCount = 0;
  let recordBytes = 0;
  let scratch: Uint8Array = new Uint8Array(0);
  const segments: SegmentScan[] = [];
  let expected = 1;
  segmentNames.forEach((seg, i) => {
    if (seg.lsn < expected) throw corrupt(`${seg.name} in ${dir} starts at lsn ${seg.lsn}, expected ${expected} (overlap)`);
    if (seg.lsn > expected && seg.lsn > covered + 1) {
      throw corrupt(`${seg.name} in ${dir} starts at lsn ${seg.lsn}: records ${expected}..${seg.lsn - 1} are missing${rejectedSaid}`);
    }
    expected = seg.lsn;
    const next = segmentNames[i + 1];
    if (next !== undefined && next.lsn <= covered + 1) {
      // Each of its records is in the snapshot (a compaction cut short left it): it is deleted
      // unread, with the other discards, so damage to it costs nothing, where reading it would
      // make the log WAL_CORRUPT. Never among the segments replayed.
      discard.push(seg.name);
      return;
    }
    // One buffer for every segment: nothing read here outlives the check.
    const buf = readInto(join(dir, seg.name), scratch);
    scratch = buf.buffer.byteLength > scratch.byteLength ? new Uint8Array(buf.buffer) : scratch;
    const view = viewOf(buf);
    const last = i === segmentNames.length - 1;
    let off = 0;
    while (off < buf.length) {
      const rec = recordAt(buf, view, off);
      if (typeof rec === "string") {
        const where = `${join(dir, seg.name)} at offset ${off}`;
        if (!last) throw corrupt(`${where}: ${rec} (not the last segment)`);
        const later = validRecordAfter(buf, view, off, expected);
        if (later !== null) throw corrupt(`${where}: ${rec}, yet a valid record follows at offset ${later}`);
        break;
      }
      if (rec.lsn !== expected) throw corrupt(`${join(dir, seg.name)} at offset ${off}: lsn ${rec.lsn}, expected ${expected}`);
      if (rec.lsn > covered) {
        recordCount++;
        recordBytes += rec.end - off - RECORD_HEADER_BYTES;
      }
      expected++;
      off = rec.end;
    }
    segments.push({ name: seg.name, lastLsn: expected - 1, validBytes: off, fileBytes: buf.length });
  });
  const lastLsn = Math.max(covered, expected - 1);
  // A named snapshot was fsynced before its rename, so one that fails its check is damage, not a
  // torn write. Its records were durable once: unless an older snapshot and the segments still
  // hold all of them, starting without them would silently forget state (ended sessions, say).
  const lost = rejected.find((r) => r.lsn > lastLsn);
  if (lost) throw corrupt(`${lost.name} in ${dir} failed its check (${lost.reason}) and records ${lastLsn + 1}..${lost.lsn} it held are nowhere else`);
  return { snapshot, recordCount, recordBytes, lastLsn, segments, discard };
}

/** The whole of file `path`, read into `into` when it is large enough (a view of it), else into a new buffer. */
function readInto(path: string, into: Uint8Array): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = size <= into.byteLength ? into.subarray(0, size) : new Uint8Array(size);
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) return buf.subarray(0, off);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/**
 * The payloads of records above `covered` in `segments` (validated already), one segment read at
 * a time. Each segment gets a buffer of its own (a consumer may keep views of a payload), and
 * the previous one is collected before the next is read, so replay holds about one segment.
 */
function* readRecords(dir: string, segments: readonly SegmentScan[], covered: number): Generator<Uint8Array> {
  for (const [i, seg] of segments.entries()) {
    // Named by its first lsn, which recovery checked.
    let expected = lsnOfName(seg.name, SEGMENT_NAME) ?? 0;
    if (i > 0) Bun.gc(true);
    let file: Uint8Array;
    try {
      file = readInto(join(dir, seg.name), new Uint8Array(0));
    } catch (err) {
      throw new WalError("WAL_IO_FAILED", `reading ${join(dir, seg.name)} to replay it: ${errorMessage(err)}`);
    }
    const changed = (): WalError => corrupt(`${join(dir, seg.name)} changed after recovery validated it`);
    if (file.length < seg.validBytes) throw changed();
    const buf = file.subarray(0, seg.validBytes);
    const view = viewOf(buf);
    for (let off = 0; off < buf.length; ) {
      if (buf.length - off < RECORD_HEADER_BYTES) throw changed();
      const end = off + RECORD_HEADER_BYTES + view.getUint32(off);
      const lsn = getU64(view, off + 8);
      // Validated whole before; here the lengths and the lsn sequence are enough to see a swap.
      if (end > buf.length || lsn !== expected) throw changed();
      expected++;
      if (lsn > covered) yield buf.subarray(off + RECORD_HEADER_BYTES, end);
      off = end;
    }
  }
}

interface Segment {
  fd: number;
  name: string;
  size: number;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve = (): void => {};
  let reject = (_err: unknown): void => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A commit() waiting for the records up to `lsn` to be durable. */
interface Waiter {
  lsn: number;
  settle: Deferred;
}

/**
 * An open write-ahead log; see the module comment for format, durability and recovery rules.
 *
 * Writes run one at a time, in order (`enqueue`), each ending with its fsync awaited off the
 * event loop; records appended meanwhile wait in `buffer` for the next write, so a slow disk
 * groups more records per fsync rather than stalling the process.
 */
export class Wal {
  /** Records appended and not yet taken by a write, each already framed with its lsn. */
  private buffer: Uint8Array[] = [];
  /** Lsn of the last record appended (durable or not). */
  private appended: number;
  /** Lsn of the last durable record. */
  private durable: number;
  private active: Segment | null;
  private segments: string[];
  private snapshotLsn: number | null;
  private waiters: Waiter[] = [];
  /** The last write queued; the next one starts when it has settled. */
  private tail: Promise<void> = Promise.resolve();
  /** A commit asked for a flush on the next turn of the event loop (commits of one turn share it). */
  private flushScheduled = false;
  /** The records of the flush queued and not yet started: later commits add theirs to it. */
  private queuedFlush: Uint8Array[] | null = null;
  private closed = false;
  /** The close under way or done, once close() was called. */
  private closing: Promise<void> | null = null;
  private failure: { code: WalErrorCode; message: string } | null = null;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly sync: AsyncSyncer,
    private readonly beforeWrite: (() => void | Promise<void>) | undefined,
    state: { lsn: number; active: Segment | null; segments: string[]; snapshotLsn: number | null },
  ) {
    this.appended = state.lsn;
    this.durable = state.lsn;
    this.active = state.active;
    this.segments = state.segments;
    this.snapshotLsn = state.snapshotLsn;
  }

  /** Open (or create) the log in `opts.dir`, recovering snapshot + records; throws WalError("WAL_CORRUPT") on corruption. */
  static async open(opts: WalOptions): Promise<{ wal: Wal; recovered: WalRecovery }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0) {
      throw new ConfigError(`WAL segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const dir = resolve(opts.dir);
    try {
      return await Wal.recover(dir, segmentBytes, makeAsyncSyncer(opts.fsync, opts.onFsync), opts.beforeWrite);
    } catch (err) {
      throw err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `cannot open the WAL in ${dir}: ${errorMessage(err)}`);
    }
  }

  /** Its fsyncs off the event loop as every other: a process recovering on a slow disk still answers its health checks. */
  private static async recover(dir: string, segmentBytes: number, sync: AsyncSyncer, beforeWrite: WalOptions["beforeWrite"]): Promise<{ wal: Wal; recovered: WalRecovery }> {
    await ensureDir(dir, sync);
    const plan = planRecovery(dir);
    const snap = plan.snapshot;
    if (snap !== null) {
      // Its rename may not be durable yet (crash before the directory fsync): make it so before
      // deleting anything it covers.
      const fd = openSync(join(dir, snap.name), "r");
      try {
        await sync(fd, snap.name, "file");
      } finally {
        closeSync(fd);
      }
      await syncDirLater(dir, sync);
    }
    const covered = snap?.lsn ?? 0;
    const kept = plan.segments.filter((s) => s.lastLsn > covered);
    const remove = [...plan.discard, ...plan.segments.filter((s) => s.lastLsn <= covered).map((s) => s.name)];
    for (const name of remove) unlinkSync(join(dir, name));
    // Always, not only after a removal: a segment made by a rollover killed before its directory
    // fsync would otherwise take the records acked into it from here on with it in a power loss.
    await syncDirLater(dir, sync);
    const tail = plan.segments.at(-1);
    const truncatedBytes = tail === undefined ? 0 : tail.fileBytes - tail.validBytes;
    const last = kept.at(-1);
    let active: Segment | null = null;
    if (last !== undefined) {
      const fd = openSync(join(dir, last.name), "r+");
      try {
        if (last.fileBytes > last.validBytes) ftruncateSync(fd, last.validBytes);
        await sync(fd, last.name, "file"); // what we return must be durable, torn or not
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      active = { fd, name: last.name, size: last.validBytes };
    }
    const wal = new Wal(dir, segmentBytes, sync, beforeWrite, {
      lsn: plan.lastLsn,
      active,
      segments: kept.map((s) => s.name),
      snapshotLsn: snap?.lsn ?? null,
    });
    const replayed = kept.map((s) => ({ ...s, validBytes: Math.min(s.validBytes, s.fileBytes) }));
    return {
      wal,
      recovered: {
        snapshot: snap?.state ?? null,
        records: () => readRecords(dir, replayed, covered),
        recordCount: plan.recordCount,
        recordBytes: plan.recordBytes,
        truncatedBytes,
      },
    };
  }

  /** Records appended but not yet durable. */
  get pendingRecords(): number {
    return this.appended - this.durable;
  }

  /** Number of the last durable record (0 when none); records are numbered from 1. */
  get lsn(): number {
    return this.durable;
  }

  /** Buffer a record in memory; it is not durable (nor recovered after a crash) until a commit covers it. */
  append(payload: Uint8Array): void {
    this.guard();
    this.appended++;
    this.buffer.push(encodeRecord(this.appended, payload));
  }

  /**
   * Make every record appended so far durable: one write and ONE fdatasync for the whole group.
   * The flush is queued on the next turn of the event loop, so every commit() requested before it
   * takes the buffer (from any caller, also while an earlier flush waits for its fsync) shares it.
   */
  commit(): Promise<void> {
    try {
      this.guard();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.appended === this.durable) return Promise.resolve();
    const waiter: Waiter = { lsn: this.appended, settle: deferred() };
    this.waiters.push(waiter);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.queueFlush();
      });
    }
    return waiter.settle.promise;
  }

  /**
   * Hand the buffered records to a write, in lsn order: to the flush queued and not yet started,
   * if there is one (records appended while a slow fsync runs share the next one), else to a new
   * flush queued after every write before it.
   */
  private queueFlush(): void {
    if (this.failure !== null || this.buffer.length === 0) return;
    if (this.queuedFlush !== null) {
      for (const record of this.takeBuffer()) this.queuedFlush.push(record);
      return;
    }
    const records = this.takeBuffer();
    this.queuedFlush = records;
    // Its failure rejected every waiter already.
    this.enqueue(() => {
      if (this.queuedFlush === records) this.queuedFlush = null;
      return this.writeRecords(records);
    }).catch(() => {});
  }

  /**
   * Replace the log by `state`, which the caller guarantees is the fold of every record appended
   * so far (records appended after this call are kept in the log after it): commit those, run
   * `beforeSnapshot` (what only a snapshot refers to, made durable; a throw is fatal), write the
   * snapshot (temp → fsync → rename → fsync dir), delete the segments and older snapshot it
   * covers. The next write starts a new segment.
   */
  snapshot(state: Uint8Array, beforeSnapshot?: () => Promise<void>): Promise<void> {
    try {
      this.guard();
    } catch (err) {
      return Promise.reject(err);
    }
    const records = this.takeBuffer();
    const lsn = this.appended;
    const written = this.enqueue(async () => {
      await this.writeRecords(records);
      await this.beforeWrite?.();
      await beforeSnapshot?.();
      await this.writeSnapshot(state, lsn);
    });
    // Records appended from now on come after the snapshot: a flush queued before it has
    // all it may take.
    this.queuedFlush = null;
    return written;
  }

  /** Commit what is buffered and release the files. Closing twice gives the first close's outcome; a failed Wal rejects. */
  close(): Promise<void> {
    if (this.closing !== null) return this.failure === null ? this.closing : Promise.reject(this.failedError());
    try {
      this.guard();
    } catch (err) {
      return Promise.reject(err);
    }
    this.closed = true;
    const records = this.takeBuffer();
    this.queuedFlush = null;
    this.closing = this.enqueue(async () => {
      try {
        await this.writeRecords(records);
      } finally {
        this.closeActive();
      }
    });
    return this.closing;
  }

  private guard(): void {
    this.failIfFailed();
    if (this.closed) throw new WalError("WAL_CLOSED", `WAL in ${this.dir} is closed`);
  }

  private failIfFailed(): void {
    if (this.failure !== null) throw this.failedError();
  }

  private failedError(): WalError {
    const failure = this.failure ?? { code: "WAL_IO_FAILED", message: "no failure recorded" };
    return new WalError(failure.code, `WAL in ${this.dir} is unusable after an earlier failure: ${failure.message}`);
  }

  /** The buffered records, leaving the buffer empty for appends made from now on. */
  private takeBuffer(): Uint8Array[] {
    const records = this.buffer;
    this.buffer = [];
    return records;
  }

  /**
   * Run `write` after every write queued before it. Its failure poisons the Wal for good
   * (WalErrors keep their code, others become WAL_IO_FAILED): every waiting commit and every later
   * call rejects with it.
   */
  private enqueue(write: () => Promise<void>): Promise<void> {
    const run = this.tail.then(async () => {
      this.failIfFailed();
      try {
        await write();
      } catch (err) {
        throw this.poison(err);
      }
    });
    this.tail = run.catch(() => {});
    return run;
  }

  private poison(err: unknown): WalError {
    if (this.failure !== null) return new WalError(this.failure.code, this.failure.message);
    const failure =
      err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `WAL write in ${this.dir} failed (fatal): ${errorMessage(err)}`);
    this.failure = { code: failure.code as WalErrorCode, message: failure.message };
    this.buffer = [];
    this.closeActive();
    for (const w of this.waiters.splice(0)) w.settle.reject(failure);
    return failure;
  }

  /** The records up to `lsn` are durable: settle the commits that waited for them. */
  private madeDurable(lsn: number): void {
    this.durable = lsn;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.lsn <= lsn) w.settle.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Write `records` (the next ones after the durable lsn) and fdatasync them, rolling segments over as they fill. */
  private async writeRecords(records: Uint8Array[]): Promise<void> {
    const first = records[0];
    if (first === undefined) return;
    let lsn = this.durable + 1;
    // Writes go in lsn order by construction; a log written out of order would not open again.
    const firstLsn = getU64(viewOf(first), 8);
    if (firstLsn !== lsn) throw new InternalError(`WAL in ${this.dir}: a write of records from lsn ${firstLsn} after lsn ${this.durable}`);
    await this.beforeWrite?.();
    let chunk: Uint8Array[] = [];
    let chunkBytes = 0;
    let segment = this.active ?? (await this.createSegment(lsn));
    for (const record of records) {
      if (segment.size + chunkBytes >= this.segmentBytes && segment.size + chunkBytes > 0) {
        await this.writeChunk(segment, chunk, chunkBytes, lsn - 1);
        this.closeActive();
        segment = await this.createSegment(lsn);
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(record);
      chunkBytes += record.length;
      lsn++;
    }
    await this.writeChunk(segment, chunk, chunkBytes, lsn - 1);
  }

  /** Write `chunk` at the end of `segment` and fdatasync it; records up to `lastLsn` are then durable. */
  private async writeChunk(segment: Segment, chunk: Uint8Array[], bytes: number, lastLsn: number): Promise<void> {
    if (bytes === 0) return;
    writeAll(segment.fd, concat(chunk, bytes), segment.size);
    segment.size += bytes;
    await this.sync(segment.fd, segment.name, "records");
    this.madeDurable(lastLsn);
  }

  private async createSegment(firstLsn: number): Promise<Segment> {
    const name = segmentFileName(firstLsn);
    const fd = openSync(join(this.dir, name), "wx");
    this.active = { fd, name, size: 0 };
    this.segments.push(name);
    await syncDirLater(this.dir, this.sync);
    return this.active;
  }

  /** Write the snapshot of every record up to `lsn` (all durable by now), then drop what it covers. */
  private async writeSnapshot(state: Uint8Array, lsn: number): Promise<void> {
    const name = snapshotFileName(lsn);
    const tmp = join(this.dir, `${name}.tmp`);
    const fd = openSync(tmp, "w");
    try {
      writeAll(fd, encodeSnapshot(lsn, state), 0);
      await this.sync(fd, `${name}.tmp`, "file");
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, name));
    await syncDirLater(this.dir, this.sync);
    crashPoint("wal.snapshot-named");
    this.closeActive();
    for (const segment of this.segments) unlinkSync(join(this.dir, segment));
    this.segments = [];
    if (this.snapshotLsn !== null && this.snapshotLsn !== lsn) unlinkSync(join(this.dir, snapshotFileName(this.snapshotLsn)));
    this.snapshotLsn = lsn;
    await syncDirLater(this.dir, this.sync);
  }

  private closeActive(): void {
    if (this.active === null) return;
    const fd = this.active.fd;
    this.active = null;
    try {
      closeSync(fd);
    } catch {
      // closing is best effort: the data's fate was settled by the fsync
    }
  }
}

/** Re-exported for callers that import everything WAL-related from here. */
export { WalError } from "./errors.ts";
