/**
 * The gateway's durable memory: which sessions exist and the result chunks not yet handed to
 * their clients. Each change is a WAL record; after a crash the registry is rebuilt, so clients
 * can resume their sessions and results wait until the client has them.
 */
import { Packr } from "msgpackr";
import { InternalError } from "./errors.ts";
import type { QueryName } from "./schema.ts";
import { Wal, type WalOptions } from "./wal.ts";

/** A stored result chunk. */
export interface StoredChunk {
  query: QueryName;
  chunk: number;
  last: boolean;
  csv: string;
}

/** A session as the store knows it. */
export interface StoredSession {
  id: string;
  chunks: StoredChunk[];
}

type Rec = ["open", string] | ["chunk", string, QueryName, number, boolean, string] | ["close", string];

const packr = new Packr({ useRecords: false });
const SNAPSHOT_EVERY = 5_000;

/** Registry of sessions and their undelivered chunks; durable when given a directory. */
export class GatewayStore {
  readonly sessions = new Map<string, StoredSession>();
  private sinceSnapshot = 0;

  private constructor(private readonly wal: Wal | null) {}

  /**
   * Open the store (recovering its log) in `dir`, or a memory-only store when `dir` is null;
   * `onFsync` observes the log's fsyncs.
   */
  static async open(dir: string | null, onFsync?: WalOptions["onFsync"]): Promise<GatewayStore> {
    if (!dir) return new GatewayStore(null);
    const { wal, recovered } = await Wal.open({ dir, onFsync });
    const store = new GatewayStore(wal);
    if (recovered.snapshot) for (const s of packr.unpack(recovered.snapshot) as StoredSession[]) store.sessions.set(s.id, s);
    for (const r of recovered.records) store.apply(packr.unpack(r) as Rec);
    return store;
  }

  private apply(r: Rec): void {
    switch (r[0]) {
      case "open":
        if (!this.sessions.has(r[1])) this.sessions.set(r[1], { id: r[1], chunks: [] });
        return;
      case "chunk": {
        const s = this.sessions.get(r[1]);
        if (s && !s.chunks.some((c) => c.query === r[2] && c.chunk === r[3])) s.chunks.push({ query: r[2], chunk: r[3], last: r[4], csv: r[5] });
        return;
      }
      case "close":
        this.sessions.delete(r[1]);
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

  /** Register a new session. */
  open(id: string): void {
    this.log(["open", id]);
  }

  /** Keep a result chunk until the session is closed. Returns false for unknown sessions. */
  addChunk(id: string, c: StoredChunk): boolean {
    if (!this.sessions.has(id)) return false;
    this.log(["chunk", id, c.query, c.chunk, c.last, c.csv]);
    return true;
  }

  /** Forget a session (finished, or purged). */
  close(id: string): void {
    if (this.sessions.has(id)) this.log(["close", id]);
  }

  /** Make every change so far durable (one fsync). */
  async commit(): Promise<void> {
    await this.wal?.commit();
  }

  /** Compact the log into a snapshot of the live sessions when it grew long or nothing is open. */
  async maybeSnapshot(): Promise<void> {
    if (!this.wal || this.sinceSnapshot === 0 || (this.sinceSnapshot < SNAPSHOT_EVERY && this.sessions.size > 0)) return;
    await this.wal.snapshot(packr.pack([...this.sessions.values()]));
    this.sinceSnapshot = 0;
  }

  /** Commit and close the log. */
  async shutdown(): Promise<void> {
    await this.wal?.close();
  }
}
