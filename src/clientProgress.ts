/**
 * What the client knows of its session's progress: per entity, what was sent and what the
 * gateway confirmed; per query, the result chunks received. The progress display
 * (src/progressBars.ts) draws its `view()`; the client's summary is its final `snapshot()`.
 */
import { statSync } from "node:fs";
import type { DatasetFile } from "./datasetCheck.ts";
import type { EntityView, ProgressView, QueryView } from "./progressBars.ts";
import { QUERIES, type Entity, type QueryName } from "./schema.ts";

/** A file's size, or null when it cannot be read (progress then shows no percentage for its entity). */
function statSizeOrNull(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** Counters of one client run, kept as the upload and the gateway's messages go. */
export class ClientProgress {
  /** Session id once welcomed. */
  session: string | null = null;
  /** Clock reading of the run's start, then of the session's welcome. */
  startedMs: number;
  /**
   * The gateway's last word was a heartbeat saying the broker takes no publishes (shown, so a
   * long wait is explained). Any other word (an ack, a result: the broker took those) or a lost
   * connection clears it.
   */
  brokerHeld = false;
  /** The gateway connection was lost mid-session (since, clock reading) and is being resumed until the deadline. */
  resuming: { sinceMs: number; deadlineMs: number } | null = null;
  /** Rows sent, all entities. */
  rowsSent = 0;
  /** Rows the reader rejected (field count, quotes, UTF-8): read but never sent. */
  rowsRejectedHere = 0;
  /** Each file's size in bytes (null: unknown): rows are not known up front, bytes are, so progress is estimated from them. */
  readonly fileSizes = new Map<string, number | null>();
  private readonly entities: Map<Entity, EntityView>;
  private readonly queries = new Map<QueryName, QueryView>(QUERIES.map((q) => [q, { name: q, chunks: 0, completeMs: null }]));

  /**
   * `files` in sending order; `eosConfirmed(entity)`: the gateway confirmed the entity's end of
   * stream (an entity is done once that and every one of its batches are confirmed).
   */
  constructor(files: ReadonlyMap<Entity, readonly DatasetFile[]>, startedMs: number, private readonly eosConfirmed: (entity: Entity) => boolean) {
    this.startedMs = startedMs;
    this.entities = new Map([...files].map(([entity, list]) => {
      let totalBytes: number | null = 0;
      for (const file of list) {
        const size = statSizeOrNull(file.path);
        this.fileSizes.set(file.path, size);
        totalBytes = totalBytes === null || size === null ? null : totalBytes + size;
      }
      return [entity, { name: entity, totalBytes, bytesSent: 0, rowsSent: 0, rowsAcked: 0, rejected: 0, phase: "waiting", startedMs: null, doneMs: null }];
    }));
  }

  /** What the display shows now (live objects: read, do not keep). */
  view(): ProgressView {
    return { session: this.session, startedMs: this.startedMs, entities: [...this.entities.values()], queries: [...this.queries.values()], brokerHeld: this.brokerHeld, resuming: this.resuming };
  }

  /** A copy of the view that later changes do not touch, for the run's outcome. */
  snapshot(): ProgressView {
    const v = this.view();
    return { ...v, entities: v.entities.map((e) => ({ ...e })), queries: v.queries.map((q) => ({ ...q })) };
  }

  /** The entity's first batch goes out at `nowMs`. */
  started(entity: Entity, nowMs: number): void {
    const e = this.entity(entity);
    e.startedMs = nowMs;
    e.phase = "sending";
  }

  /** A batch of `rows` went out; the entity's files are read up to `bytes`. */
  sent(entity: Entity, rows: number, bytes: number): void {
    const e = this.entity(entity);
    this.rowsSent += rows;
    e.rowsSent += rows;
    e.bytesSent = bytes;
  }

  /** The reader rejected one of the entity's rows. */
  rejectedHere(entity: Entity): void {
    this.entity(entity).rejected++;
    this.rowsRejectedHere++;
  }

  /** The entity's last batch and its end of stream went out: its confirms are awaited. */
  ended(entity: Entity, nowMs: number): void {
    const e = this.entity(entity);
    e.phase = "acking";
    e.bytesSent = e.totalBytes ?? e.bytesSent;
    this.checkDone(entity, nowMs);
  }

  /** The gateway confirmed a batch of `rows`, `rejected` of which it turned down. */
  acked(entity: Entity, rows: number, rejected: number, nowMs: number): void {
    const e = this.entity(entity);
    e.rowsAcked += rows;
    e.rejected += rejected;
    this.checkDone(entity, nowMs);
  }

  /** The gateway confirmed the entity's end of stream. */
  eosAcked(entity: Entity, nowMs: number): void {
    this.checkDone(entity, nowMs);
  }

  /** A new chunk of `query`'s result arrived; `complete`: its file is whole now. */
  resultChunk(query: QueryName, complete: boolean, nowMs: number): void {
    const q = this.queries.get(query)!;
    q.chunks++;
    // Chunks may arrive out of order: complete means the file is, not that `last` came.
    if (q.completeMs === null && complete) q.completeMs = nowMs;
  }

  private entity(entity: Entity): EntityView {
    return this.entities.get(entity)!;
  }

  private checkDone(entity: Entity, nowMs: number): void {
    const e = this.entity(entity);
    if (e.phase === "acking" && this.eosConfirmed(entity) && e.rowsAcked === e.rowsSent) {
      e.phase = "done";
      e.doneMs = nowMs;
    }
  }
}
