/**
 * Makes an AggregatorState durable: every accepted message is appended to a write-ahead log
 * (the same record that makes it count also records its identity, so a redelivery after a crash
 * is a recognised duplicate), and recovery replays snapshot + log through the same fold.
 */
import { Packr } from "msgpackr";
import { decodeMessage } from "./codec.ts";
import type { ResultCut } from "./chunkLines.ts";
import { AggregatorState, type LiveSessionSnapshot } from "./aggregatorState.ts";
import { ConfigError, InternalError, WalError } from "./errors.ts";
import type { QueryReducer } from "./queries/reducer.ts";
import { Wal, type WalOptions, type WalRecovery, type WalSyncKind } from "./wal.ts";
import { join } from "node:path";
import { forEachYielding } from "./loopYield.ts";
import { observedFsync } from "./durableFs.ts";
import { makeRunsDurable } from "./sortedRuns.ts";
import { decodeUtf8 } from "./utf8.ts";

const MESSAGE = 1;
const FINISHED = 2;
/** [session, size, "bytes"] (or [session, size] in characters, from older builds): where the session's result is cut, logged before its first chunk is published. */
const CUT = 3;
const packr = new Packr({ useRecords: false });
const text = new TextEncoder();

function record(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

/** Layout of a snapshot: [format, ended session ids, live sessions (tracker + reducer state)]. */
const SNAPSHOT_FORMAT = 2;

/** By default a snapshot is taken once this many records were logged since the last one. */
const SNAPSHOT_EVERY = 20_000;

/**
 * ... or once this many bytes were: records differ a thousandfold in size (a Q4 partial of a
 * large batch is ~160 KB), and recovery reads the whole log, so its bytes are what must stay
 * bounded while overlapping sessions keep some session always open.
 */
const SNAPSHOT_EVERY_BYTES = 256 * 1024 * 1024;

/** Tuning of an aggregator store (defaults suit production; tests make things small). */
export interface AggregatorStoreOptions {
  /** Records logged before the next snapshot is taken. */
  snapshotEvery?: number;
  /** Bytes of records logged before the next snapshot is taken. */
  snapshotEveryBytes?: number;
  /** Observer of the log's fsyncs and of the spilled runs' (metrics). */
  onFsync?: WalOptions["onFsync"];
  /** Rows a reducer keeps in memory before spilling (Q1). */
  spillRows?: number;
  /** @internal Test hook: the log's fsyncs and the spilled runs' (src/wal.ts WalOptions.fsync). Never set in production. */
  fsync?: WalOptions["fsync"];
}

/** An aggregator's state with its log. */
export class AggregatorStore {
  private sinceSnapshot = 0;
  private bytesSinceSnapshot = 0;

  private constructor(
    /** The state folder: the log's, and the spill root's parent (its entry durable since the log's open). */
    private readonly dir: string,
    private readonly wal: Wal,
    readonly state: AggregatorState,
    private readonly snapshotEvery: number,
    private readonly snapshotEveryBytes: number,
    /** fsyncs a spilled file or a folder above it off the event loop, observed as the log's own fsyncs. */
    private readonly syncFile: (fd: number, kind: Exclude<WalSyncKind, "records">) => Promise<void>,
  ) {}

  /** Open (or create) the log in `dir` and rebuild the state from it; `onFsync` observes the log's and the spilled runs' fsyncs. */
  static async open(dir: string, reducer: QueryReducer, opts: AggregatorStoreOptions = {}): Promise<{ store: AggregatorStore; replayed: number; truncatedBytes: number }> {
    const { wal, recovered } = await Wal.open({ dir, ...(opts.onFsync ? { onFsync: opts.onFsync } : {}), ...(opts.fsync ? { fsync: opts.fsync } : {}) });
    const snapshotEvery = opts.snapshotEvery ?? SNAPSHOT_EVERY;
    // Sessions' spilled state lives beside the log (Wal ignores names it does not own).
    const state = new AggregatorState(reducer, join(dir, "spill"), opts.spillRows);
    const { onFsync } = opts;
    const syncFile = (fd: number, kind: Exclude<WalSyncKind, "records">): Promise<void> =>
      observedFsync(fd, false, opts.fsync, onFsync && ((seconds) => onFsync(seconds, kind)));
    const store = new AggregatorStore(dir, wal, state, snapshotEvery, opts.snapshotEveryBytes ?? SNAPSHOT_EVERY_BYTES, syncFile);
    try {
      await store.rebuild(dir, recovered);
    } catch (err) {
      // The caller may set the files aside (WAL_CORRUPT) and open the directory again.
      await wal.close().catch(() => {});
      throw err;
    }
    return { store, replayed: recovered.recordCount, truncatedBytes: recovered.truncatedBytes };
  }

  /** Fold the recovered snapshot and records into the state. */
  private async rebuild(dir: string, recovered: WalRecovery): Promise<void> {
    const state = this.state;
    if (recovered.snapshot) {
      const snap = packr.unpack(recovered.snapshot) as unknown[];
      if (Array.isArray(snap[0])) {
        // Format 1 (earlier versions): [ended ids, raw messages of the live sessions], replayed.
        const [ended, live] = snap as [string[], Uint8Array[]];
        for (const id of ended) state.markFinished(id);
        for (const raw of live) state.apply(decodeMessage(raw), true);
      } else {
        // A newer version's snapshot (a rollback) is intact state this build cannot read: refused,
        // never set aside as corrupt (src/aggregatorRecovery.ts), so that version can carry on.
        if (typeof snap[0] === "number" && snap[0] > SNAPSHOT_FORMAT) {
          throw new ConfigError(`aggregator snapshot in ${dir} has format ${snap[0]}, written by a newer version; this version reads 1 and ${SNAPSHOT_FORMAT}: run that version again, or move the folder aside`);
        }
        if (snap[0] !== SNAPSHOT_FORMAT) throw new WalError("WAL_CORRUPT", `aggregator snapshot in ${dir} has format ${String(snap[0])}, this version reads 1 and ${SNAPSHOT_FORMAT}`);
        const [, ended, live] = snap as [number, string[], LiveSessionSnapshot[]];
        for (const id of ended) state.markFinished(id);
        for (const s of live) state.restoreSession(s);
      }
    }
    await forEachYielding(recovered.records(), (r) => this.replay(r));
    state.removeOrphanFiles();
    this.sinceSnapshot = recovered.recordCount;
    this.bytesSinceSnapshot = recovered.recordBytes;
  }

  private replay(r: Uint8Array): void {
    const payload = r.subarray(1);
    if (r[0] === MESSAGE) this.state.apply(decodeMessage(payload), true);
    else if (r[0] === FINISHED) this.state.markFinished(decodeUtf8(payload));
    else if (r[0] === CUT) {
      const cut: unknown = packr.unpack(payload);
      // A record whose CRC held but whose content is not a cut would put a whole result in one chunk.
      // [session, size] is a cut in characters, as builds before the byte count logged it.
      if (!Array.isArray(cut) || typeof cut[0] !== "string" || !Number.isInteger(cut[1]) || (cut[1] as number) < 1 || !(cut.length === 2 || (cut.length === 3 && cut[2] === "bytes"))) {
        throw new WalError("WAL_CORRUPT", "aggregator log: a result-cut record that is not [session, size, \"bytes\"] or [session, size]");
      }
      this.state.fixCut(cut[0], { size: cut[1] as number, unit: cut.length === 3 ? "bytes" : "chars" });
    }
    else throw new InternalError(`unknown aggregator log record kind ${r[0]}`);
  }

  /** Log an accepted message (call only when apply() returned "applied" or "purged"). */
  logMessage(raw: Uint8Array): void {
    this.append(record(MESSAGE, raw));
  }

  /** Log where a session's result is cut (after `state.fixCut`), before any chunk is published. */
  logCut(session: string, cut: ResultCut): void {
    this.append(record(CUT, packr.pack(cut.unit === "bytes" ? [session, cut.size, "bytes"] : [session, cut.size])));
  }

  /** Log that a session's result was published and its state freed. */
  logFinished(session: string): void {
    this.append(record(FINISHED, text.encode(session)));
  }

  private append(r: Uint8Array): void {
    this.wal.append(r);
    this.sinceSnapshot++;
    this.bytesSinceSnapshot += r.length;
  }

  /** True once the log since the last snapshot is long enough to compact, open sessions or not. */
  get snapshotDue(): boolean {
    return this.sinceSnapshot >= this.snapshotEvery || this.bytesSinceSnapshot >= this.snapshotEveryBytes;
  }

  /** Make everything logged so far durable (one fsync for the whole group); then the files of sessions ended so far go. */
  async commit(): Promise<void> {
    const ended = this.state.takeEndedFiles();
    await this.wal.commit();
    this.state.dropFiles(ended);
  }

  /** Compact: when the log is long (or nothing is open), replace it with a snapshot. */
  async maybeSnapshot(): Promise<boolean> {
    if (this.sinceSnapshot === 0 || (!this.snapshotDue && this.state.size > 0)) return false;
    // Records logged while the snapshot is written stay in the log after it, and count toward the next.
    const records = this.sinceSnapshot;
    const bytes = this.bytesSinceSnapshot;
    // Runs written since the last snapshot are not durable yet, and this one may name them: their
    // fsyncs start now, beside the log writes queued before the snapshot, not after them.
    const written = this.state.takeUnsyncedFiles();
    const runs = written.length === 0 ? null : makeRunsDurable(written, this.dir, this.syncFile);
    runs?.catch(() => {}); // awaited (and fatal) in the snapshot; not unhandled if it never runs
    await this.wal.snapshot(packr.pack([SNAPSHOT_FORMAT, this.state.endedSessions(), this.state.liveSessions()]), runs === null ? undefined : () => runs);
    this.sinceSnapshot -= records;
    this.bytesSinceSnapshot -= bytes;
    return true;
  }

  /** Number of the last durable log record. */
  get durableLsn(): number {
    return this.wal.lsn;
  }

  /** Close the log. */
  close(): Promise<void> {
    return this.wal.close();
  }
}
