/**
 * The client's upload: a reader parses the dataset into batches (a bounded queue ahead of the
 * sender) while the sender keeps at most `limit` batches unacknowledged, so memory stays flat and
 * the broker's pace sets the client's. Batches and ends of stream are kept until the gateway
 * confirms them, to be sent again on the connection that resumes the session.
 */
import { BoundedQueue } from "./boundedQueue.ts";
import { readEntityFile } from "./csvSource.ts";
import type { TextBatch } from "./rowBatcher.ts";
import type { DatasetFile } from "./datasetCheck.ts";
import type { ClientMessage } from "./protocol.ts";
import type { Entity } from "./schema.ts";

/** What the upload needs of a gateway connection. */
export interface UploadConnection {
  send(msg: ClientMessage): void;
  /** Resolves when the connection's outgoing backlog is small enough to send more. */
  ready(): Promise<void>;
}

/** What the reader queues for the sender: a batch (`bytes`: of the entity's files up to its last row, for progress), or an entity's end of stream (`eos`: its batch count). */
export type UploadItem = { entity: Entity; batch: TextBatch; bytes: number } | { entity: Entity; eos: number };

/** What the sender tells the progress view. */
export interface SendEvents {
  /** The sender took `entity`'s first item (it may wait for room in the window next). */
  started(entity: Entity): void;
  /** A batch of `rows` rows went out; `bytes` of the entity's files are read up to its end. */
  sent(entity: Entity, rows: number, bytes: number): void;
  /** Every batch of `entity` went out, and its end of stream now goes too. */
  ended(entity: Entity): void;
}

/** A batch sent and not yet acknowledged. */
interface Unacked {
  file: string;
  rows: number;
  msg: ClientMessage;
}

/**
 * The upload window: batches sent and not yet acknowledged, each entity's next seq, and ends of
 * stream sent and confirmed. New batches and ends of stream go on `current()`, the welcomed
 * connection of the moment; while it is null (a reconnect under way) the sender waits.
 */
export class ClientUpload {
  /** Batches sent and not yet acknowledged, by `entity#seq`, in sending order. */
  private readonly inFlight = new Map<string, Unacked>();
  private readonly seqs = new Map<Entity, number>();
  private readonly eosSent = new Map<Entity, number>();
  private readonly eosAcked = new Set<Entity>();
  private readonly waiters: (() => void)[] = [];
  private ended = false;

  /**
   * `limit`: most batches unacknowledged (the welcome may lower it: `limit` is the window of the
   * moment). `current`: the connection new batches and ends of stream may go on, null while
   * there is none or it is not welcomed yet.
   */
  constructor(public limit: number, private readonly current: () => UploadConnection | null) {}

  /** Batches sent and not acknowledged. */
  get unacked(): number {
    return this.inFlight.size;
  }

  /** The gateway confirmed `entity`'s end of stream. */
  eosConfirmed(entity: Entity): boolean {
    return this.eosAcked.has(entity);
  }

  /** What a `resume` says: batches sent per entity, and the ends of stream confirmed. */
  resumeCounts(): { sent: Partial<Record<Entity, number>>; eos: Entity[] } {
    return { sent: Object.fromEntries(this.seqs), eos: [...this.eosAcked] };
  }

  /**
   * An ack: the batch it confirms (its file and rows, for the rejected rows' report and the
   * progress), or null when it was acknowledged already. After a resume the old connection's acks
   * may race the new one's: ack once is enough.
   */
  ack(entity: Entity, seq: number): { file: string; rows: number } | null {
    const key = `${entity}#${seq}`;
    const batch = this.inFlight.get(key);
    if (!batch) return null;
    this.inFlight.delete(key);
    this.wake();
    return { file: batch.file, rows: batch.rows };
  }

  /** An eos-ack: `entity`'s end of stream is confirmed and will not be sent again. */
  eosAck(entity: Entity): void {
    this.eosAcked.add(entity);
  }

  /**
   * After a resume's welcome: everything the gateway may not have had confirmed goes out again
   * on the current connection (batches in sending order, then ends of stream), then `resent`;
   * and the sender, waiting for a connection, may go on.
   */
  resend(): void {
    const conn = this.current();
    for (const b of this.inFlight.values()) conn?.send(b.msg);
    for (const [entity, count] of this.eosSent) if (!this.eosAcked.has(entity)) conn?.send({ t: "eos", entity, count });
    conn?.send({ t: "resent" });
    this.wake();
  }

  /** The run ended: the sender stops (woken if it waits), and sends nothing more. */
  stop(): void {
    this.ended = true;
    this.wake();
  }

  /** Send `items` in order within the window, until they run out or the run ended. */
  async sendAll(items: AsyncIterable<UploadItem>, events: SendEvents): Promise<void> {
    const started = new Set<Entity>();
    for await (const item of items) {
      if (this.ended) break;
      if (!started.has(item.entity)) {
        started.add(item.entity);
        events.started(item.entity);
      }
      if ("eos" in item) {
        this.eosSent.set(item.entity, item.eos);
        events.ended(item.entity);
        this.current()?.send({ t: "eos", entity: item.entity, count: item.eos });
        continue;
      }
      while (!this.ended && (this.inFlight.size >= this.limit || !this.current())) await new Promise<void>((r) => this.waiters.push(r));
      // Woken by the run's end (an abort may be on the wire already): nothing more goes out.
      if (this.ended) break;
      const seq = this.seqs.get(item.entity) ?? 0;
      this.seqs.set(item.entity, seq + 1);
      const rows = item.batch.lines.length;
      const msg: ClientMessage = { t: "batch", entity: item.entity, seq, lines: Uint32Array.from(item.batch.lines), columns: item.batch.columns };
      this.inFlight.set(`${item.entity}#${seq}`, { file: item.batch.file, rows, msg });
      this.current()?.send(msg);
      events.sent(item.entity, rows, item.bytes);
      await this.current()?.ready();
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** What the upload reads: each entity's files, in sending order, cut into batches. */
export interface UploadSource {
  order: readonly Entity[];
  files: ReadonlyMap<Entity, readonly DatasetFile[]>;
  /** Each file's size (null: unknown), so that a file counts whole once read, rows rejected after its last batch included. */
  fileSizes: ReadonlyMap<string, number | null>;
  batchRows: number;
  batchBytes: number;
  /** The reader rejected a row (field count, quotes, UTF-8): read, never sent. */
  reject(entity: Entity, file: string, line: number, reason: string): void;
}

/** Read `source` into batches, through a queue of a few, and send them with `upload`: resolves once everything went out (or the run ended). */
export async function uploadDataset(source: UploadSource, upload: ClientUpload, events: SendEvents): Promise<void> {
  const queue = new BoundedQueue<UploadItem>(4);
  const reader = readInto(queue, source);
  try {
    await upload.sendAll(queue.drain(), events);
  } finally {
    // However the sending ends, the reader must not wait forever on a full queue with a file open.
    queue.close();
  }
  await reader;
}

/** Queue each entity's batches, then its end of stream; a failure to read closes the queue with it. */
async function readInto(queue: BoundedQueue<UploadItem>, source: UploadSource): Promise<void> {
  try {
    for (const entity of source.order) {
      let seq = 0;
      let earlierFiles = 0;
      for (const file of source.files.get(entity) ?? []) {
        let fileBytes = 0;
        const onReject = (line: number, reason: string): void => source.reject(entity, file.label, line, reason);
        for await (const batch of readEntityFile(file.path, entity, onReject, { batchRows: source.batchRows, batchBytes: source.batchBytes })) {
          batch.file = file.label;
          fileBytes = batch.bytesRead;
          // The sender stopped (the run ended): leaving the loop closes the file.
          if (!(await queue.push({ entity, batch, bytes: earlierFiles + batch.bytesRead }))) return;
          seq++;
        }
        // The whole file counts once it is read, also bytes after its last batch (rejected rows).
        earlierFiles += source.fileSizes.get(file.path) ?? fileBytes;
      }
      if (!(await queue.push({ entity, eos: seq }))) return;
    }
    queue.close();
  } catch (err) {
    queue.close(err);
  }
}
