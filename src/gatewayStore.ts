/**
 * The gateway's durable memory: which sessions exist and the result chunks not yet handed to
 * their clients. Each change is a WAL record; after a crash the registry is rebuilt, so clients
 * can resume their sessions and results wait until the client has them. A chunk's text is in the
 * result spool (src/resultSpool.ts), not in memory: the log and this registry hold where it is.
 */
import { Packr } from "msgpackr";
import { join } from "node:path";
import { InternalError, WalError, type ErrorCode } from "./errors.ts";
import { fileSpool, memorySpool, type ResultSpool, type SpoolFsyncKind, type SpoolRef } from "./resultSpool.ts";
import type { QueryName } from "./schema.ts";
import { Wal, type WalOptions, type WalSyncKind } from "./wal.ts";
import { forEachYielding } from "./loopYield.ts";

/** A stored result chunk: what it is, and where its text is in the session's spool. */
export interface StoredChunk {
  query: QueryName;
  chunk: number;
  last: boolean;
  ref: SpoolRef;
}

/** A result chunk as it arrives, with its text. */
export interface ChunkText {
  query: QueryName;
  chunk: number;
  last: boolean;
  csv: string;
}

/** Why a session failed, kept for its client until `untilMs` (wall-clock ms, so it means the same after a restart). */
export interface SessionFailure {
  code: ErrorCode;
  message: string;
  untilMs: number;
  /** Its session's resume key hash: only its client is told (absent: no key, or a log before keys). */
  keyHash?: string;
}

/** A session as the store knows it. */
export interface StoredSession {
  id: string;
  chunks: StoredChunk[];
  /** The hash of its resume key (src/resumeKey.ts); absent for a client that asked for none, or a log before keys. */
  keyHash?: string;
}

/**
 * Log records. A chunk record holds its spool offset, length and the CRC32 of its bytes (absent
 * in records of gateways before it); logs written before the spool held the text itself (a
 * string in place of the offset), which recovery moves to the spool.
 */
type Rec =
  // With its resume key's hash, if any (a gateway before keys reads the id alone).
  | ["open", string, string?]
  | ["chunk", string, QueryName, number, boolean, number | string, number?, number?]
  | ["close", string]
  // A close whose purge message must still reach the aggregators, and the note that it did.
  | ["purge", string, string]
  | ["purged", string]
  // Why a session failed (PIPELINE_FAILED, PIPELINE_STALLED), for its client's resume.
  | ["failed", string, ErrorCode, string, number, string?];

/** Observes the log's and the spool's fsyncs (metrics), with their durations in seconds. */
export type StoreFsyncObserver = (seconds: number, kind: WalSyncKind | SpoolFsyncKind) => void;

/** A session in a snapshot written before the spool: chunks carry their text. */
type SnapshotChunk = StoredChunk | (Omit<StoredChunk, "ref"> & { csv: string });
type SnapshotSession = { id: string; chunks: SnapshotChunk[]; keyHash?: string };
/** A snapshot; older ones were the array of sessions alone, or had no failures. */
type Snapshot = { sessions: SnapshotSession[]; purges: [string, string][]; failures?: [string, SessionFailure][] } | SnapshotSession[];

const packr = new Packr({ useRecords: false });
const SNAPSHOT_EVERY = 5_000;

/** Registry of sessions and their undelivered chunks; durable when given a directory. */
export class GatewayStore {
  readonly sessions = new Map<string, StoredSession>();
  /** Recovered sessions whose spooled chunks are not all on disk, with why (see findDamaged). */
  readonly damaged = new Map<string, string>();
  /** Sessions purged here whose purge message the broker has not confirmed yet: id → reason. */
  readonly pendingPurges = new Map<string, string>();
  /** Why sessions failed, until their clients' TTL: id → failure (expired ones are dropped at the next failure or snapshot). */
  private readonly failures = new Map<string, SessionFailure>();
  private sinceSnapshot = 0;
  private snapshotting: Promise<void> | null = null;
  /** Chunks whose text an older log held, moved to the spool while recovering. */
  private upgraded = 0;
  /** Sessions closed since the last commit: their spool files go once the close is durable. */
  private closedSinceCommit: string[] = [];

  private constructor(private readonly wal: Wal | null, private readonly spool: ResultSpool) {}

  /**
   * Open the store (recovering its log) in `dir`, with its result spool in `dir`/results, or a
   * memory-only store when `dir` is null; `onFsync` observes the log's and the spool's fsyncs.
   * `fsync` is a test hook replacing every fsync of both (src/wal.ts WalOptions.fsync), never
   * set in production.
   */
  static async open(dir: string | null, onFsync?: StoreFsyncObserver, fsync?: WalOptions["fsync"]): Promise<GatewayStore> {
    if (!dir) return new GatewayStore(null, memorySpool());
    // The log first: it creates the state directory and makes its entry durable; the spool's
    // directory then goes inside it. Nothing is written to the log before the spool exists.
    let spool: ResultSpool | null = null;
    const { wal, recovered } = await Wal.open({ dir, onFsync, beforeWrite: () => spool?.sync(), ...(fsync ? { fsync } : {}) });
    try {
      spool = fileSpool(join(dir, "results"), onFsync, fsync);
    } catch (err) {
      await wal.close();
      throw err;
    }
    const store = new GatewayStore(wal, spool);
    if (recovered.snapshot) {
      const snapshot = packr.unpack(recovered.snapshot) as Snapshot;
      const sessions = Array.isArray(snapshot) ? snapshot : snapshot.sessions;
      for (const s of sessions) {
        store.sessions.set(s.id, { id: s.id, chunks: s.chunks.map((c) => ("csv" in c ? store.spooled(s.id, c) : c)), ...(typeof s.keyHash === "string" ? { keyHash: s.keyHash } : {}) });
      }
      if (!Array.isArray(snapshot)) {
        for (const [id, reason] of snapshot.purges) store.pendingPurges.set(id, reason);
        for (const [id, failure] of snapshot.failures ?? []) store.failures.set(id, failure);
      }
    }
    await forEachYielding(recovered.records(), (r) => store.apply(packr.unpack(r) as Rec));
    spool.retain(new Set(store.sessions.keys()));
    store.findDamaged();
    await spool.sync();
    // Texts moved out of an older log: a snapshot of the refs, so they are not moved again.
    if (store.upgraded > 0) await wal.snapshot(store.snapshot());
    return store;
  }

  /**
   * Sessions whose log points past what their spool file holds (the file deleted or cut short
   * behind the gateway's back, or lost in a crash of the machine). Their chunks cannot be given
   * back, and an append would land where the log says older chunks are: such a session takes no
   * more chunks and reads fail, WAL_CORRUPT, so only that session fails when its client resumes.
   */
  private findDamaged(): void {
    for (const s of this.sessions.values()) {
      const lost = s.chunks.find((c) => !this.spool.covers(s.id, c.ref));
      if (lost) this.damaged.set(s.id, `the result spool of session ${s.id} lost chunk ${lost.query}#${lost.chunk} (bytes ${lost.ref.offset}..${lost.ref.offset + lost.ref.length} are not on disk)`);
    }
  }

  /** A chunk whose text an older log or snapshot held, moved to the spool. */
  private spooled(id: string, c: ChunkText): StoredChunk {
    this.upgraded++;
    return { query: c.query, chunk: c.chunk, last: c.last, ref: this.spool.append(id, c.csv) };
  }

  private apply(r: Rec): void {
    switch (r[0]) {
      case "open":
        if (!this.sessions.has(r[1])) this.sessions.set(r[1], { id: r[1], chunks: [], ...(typeof r[2] === "string" ? { keyHash: r[2] } : {}) });
        return;
      case "chunk": {
        const [, id, query, chunk, last, at, length, crc] = r;
        const s = this.sessions.get(id);
        if (!s || s.chunks.some((c) => c.query === query && c.chunk === chunk)) return;
        if (typeof at === "string") {
          s.chunks.push(this.spooled(id, { query, chunk, last, csv: at }));
        } else {
          if (length === undefined) throw new WalError("WAL_CORRUPT", `gateway log: chunk ${query}#${chunk} of session ${id} has an offset but no length`);
          s.chunks.push({ query, chunk, last, ref: { offset: at, length, ...(crc !== undefined ? { crc } : {}) } });
        }
        return;
      }
      case "close":
        this.sessions.delete(r[1]);
        return;
      case "purge":
        this.sessions.delete(r[1]);
        this.pendingPurges.set(r[1], r[2]);
        return;
      case "purged":
        this.pendingPurges.delete(r[1]);
        return;
      case "failed":
        this.failures.set(r[1], { code: r[2], message: r[3], untilMs: r[4], ...(typeof r[5] === "string" ? { keyHash: r[5] } : {}) });
        return;
      default:
        throw new InternalError(`unknown gateway log record ${String((r as unknown[])[0])}`);
    }
  }

  private log(r: Rec): void {
    this.apply(r);
    if (this.wal) {
      this.wal.append(packr.pack(r));
      this.sinceSnapshot++;
    }
  }

  /** Register a new session, with the hash of its resume key if it has one. */
  open(id: string, keyHash?: string): void {
    this.log(keyHash === undefined ? ["open", id] : ["open", id, keyHash]);
  }

  /** The hash of `id`'s resume key; undefined for a session without one, or unknown. */
  keyHashOf(id: string): string | undefined {
    return this.sessions.get(id)?.keyHash;
  }

  /**
   * Keep a result chunk (its text in the spool) until the session is closed; returns it as stored,
   * or null for an unknown session. The caller has checked that the chunk is not stored already.
   */
  addChunk(id: string, c: ChunkText): StoredChunk | null {
    if (!this.sessions.has(id)) return null;
    this.assertIntact(id);
    const ref = this.spool.append(id, c.csv);
    this.log(ref.crc === undefined ? ["chunk", id, c.query, c.chunk, c.last, ref.offset, ref.length] : ["chunk", id, c.query, c.chunk, c.last, ref.offset, ref.length, ref.crc]);
    return { query: c.query, chunk: c.chunk, last: c.last, ref };
  }

  /** The chunks stored for `id`, in the order they came (none for an unknown session). */
  chunks(id: string): readonly StoredChunk[] {
    return this.sessions.get(id)?.chunks ?? [];
  }

  /** The text of a stored chunk, read back from the spool. */
  chunkText(id: string, c: StoredChunk): string {
    this.assertIntact(id);
    return this.spool.read(id, c.ref);
  }

  /** Throws WAL_CORRUPT for a damaged session (see findDamaged): its spool is not to be touched. */
  private assertIntact(id: string): void {
    const damage = this.damaged.get(id);
    if (damage) throw new WalError("WAL_CORRUPT", damage);
  }

  /** Forget a finished session; its spooled chunks go once that is durable. */
  close(id: string): void {
    if (!this.sessions.has(id)) return;
    this.log(["close", id]);
    this.closedSinceCommit.push(id);
  }

  /**
   * Forget a session whose partial state the aggregators must drop: it stays in `pendingPurges`,
   * across restarts, until `purgeConfirmed`, so a crash between this commit and the broker's
   * confirm of the purge message does not leave that state with the aggregators for good.
   */
  purge(id: string, reason: string): void {
    if (!this.sessions.has(id)) return;
    this.log(["purge", id, reason]);
    this.closedSinceCommit.push(id);
  }

  /**
   * Remember why `id` failed until `untilMs` (wall-clock ms): its client, away when it failed,
   * learns why when it resumes, across a restart of the gateway too.
   */
  failed(id: string, code: ErrorCode, message: string, untilMs: number): void {
    this.dropExpiredFailures(Date.now());
    // The session's key goes with it: the failure is told to its own client only.
    const keyHash = this.keyHashOf(id);
    this.log(keyHash === undefined ? ["failed", id, code, message, untilMs] : ["failed", id, code, message, untilMs, keyHash]);
  }

  /** Why `id` failed, unless it did not or that is older than its client's TTL. */
  failure(id: string, nowMs: number): SessionFailure | null {
    const f = this.failures.get(id);
    return f && f.untilMs > nowMs ? f : null;
  }

  private dropExpiredFailures(nowMs: number): void {
    for (const [id, f] of this.failures) if (f.untilMs <= nowMs) this.failures.delete(id);
  }

  /** The broker confirmed the purge message of `id`. */
  purgeConfirmed(id: string): void {
    if (this.pendingPurges.has(id)) this.log(["purged", id]);
  }

  /** Make every change so far durable (the spool's fsyncs, then one for the log). */
  async commit(): Promise<void> {
    const closed = this.closedSinceCommit.splice(0);
    await this.wal?.commit();
    // A crash before this leaves files the next start removes (spool.retain).
    for (const id of closed) if (!this.sessions.has(id)) this.spool.drop(id);
  }

  /** Compact the log into a snapshot of the live sessions when it grew long or nothing is open. */
  async maybeSnapshot(): Promise<void> {
    // Sessions ending in one turn all ask: one snapshot at a time, and a check again after it
    // for what was logged meanwhile.
    if (this.snapshotting) return this.snapshotting.then(() => this.maybeSnapshot());
    const idle = this.sessions.size === 0 && this.pendingPurges.size === 0;
    if (!this.wal || this.sinceSnapshot === 0 || (this.sinceSnapshot < SNAPSHOT_EVERY && !idle)) return;
    const wal = this.wal;
    const covered = this.sinceSnapshot;
    this.snapshotting = (async () => {
      await wal.snapshot(this.snapshot());
      this.sinceSnapshot -= covered;
    })().finally(() => (this.snapshotting = null));
    return this.snapshotting;
  }

  /**
   * With no purge pending and no failure kept, the older form, which a gateway of an earlier
   * release can read (its log's purge and failure records, if any follow, it cannot:
   * downgrading is not supported).
   */
  private snapshot(): Uint8Array {
    this.dropExpiredFailures(Date.now());
    const sessions = [...this.sessions.values()];
    const snapshot: Snapshot = this.pendingPurges.size === 0 && this.failures.size === 0 ? sessions : { sessions, purges: [...this.pendingPurges], failures: [...this.failures] };
    return packr.pack(snapshot);
  }

  /** Commit and close the log and the spool. */
  async shutdown(): Promise<void> {
    await this.commit();
    await this.wal?.close();
    this.spool.close();
  }

  /**
   * Release the log's and the spool's files after a storage failure, whatever the log says on
   * closing: a failed log writes nothing more, and a failed spool fails the log's next write.
   */
  async abandon(): Promise<void> {
    await this.wal?.close().catch(() => {});
    this.spool.close();
  }
}
