/**
 * Result chunks on their way to one session's client, in order, with no more of them in memory
 * than the connection's high-water mark (plus the chunk being written). A chunk that arrives
 * while nothing waits and the socket has room is written at once (its text is in hand);
 * otherwise it joins a backlog of stored chunks whose text is read back from the result spool
 * only when the socket has room again. A resumed client's stored chunks go the same way, so a
 * slow reader or a resume with megabytes of results costs the gateway disk, not memory.
 */
import type { StoredChunk } from "./gatewayStore.ts";

/** The client's connection as the pump sees it. */
export interface ResultSink {
  /** False once this is no longer where the session's results go (closed, replaced, or purged). */
  readonly live: boolean;
  /** The socket's queue is under its high-water mark. */
  readonly hasRoom: boolean;
  /** Bytes the client has taken so far: progress, however slow, is not a stall. */
  readonly written: number;
  /** Resolves once there is room, or the connection is gone. */
  ready(): Promise<void>;
  /** Write one chunk. */
  write(chunk: StoredChunk, csv: string): void;
}

/** What the pump reports about a sink; the gateway decides what each means for the session. */
export type PumpEvent =
  /** Everything queued for the sink was written; `resent` of it came from a resume. */
  | { type: "drained"; resent: number }
  /** The sink had no room for `stallMs`: its client reads nothing. */
  | { type: "stalled"; waiting: number; stallMs: number }
  /** Reading a chunk back from the spool failed. */
  | { type: "failed"; error: unknown };

/** One session's result delivery. */
export class ResultPump {
  private backlog: StoredChunk[] = [];
  /** The sink a run is writing the backlog to. */
  private sink: ResultSink | null = null;
  private resent = 0;

  constructor(
    private readonly readText: (chunk: StoredChunk) => string,
    private readonly stallMs: number,
    private readonly onEvent: (sink: ResultSink, event: PumpEvent) => void,
  ) {}

  /** Chunks wait or are being written: the session is not done. */
  get busy(): boolean {
    return this.sink !== null || this.backlog.length > 0;
  }

  /** Chunks not yet written to the current sink. */
  get waiting(): number {
    return this.backlog.length;
  }

  /** A resumed client: every stored chunk again, in order, ahead of any that arrive later. */
  resend(sink: ResultSink, chunks: readonly StoredChunk[]): void {
    this.backlog = [...chunks];
    this.resent = chunks.length;
    this.start(sink);
  }

  /** A chunk just stored, `csv` its text: written now if nothing waits and there is room, else queued. */
  offer(sink: ResultSink, chunk: StoredChunk, csv: string): void {
    if (!this.busy && sink.hasRoom) {
      sink.write(chunk, csv);
      return;
    }
    this.backlog.push(chunk);
    this.start(sink);
  }

  private start(sink: ResultSink): void {
    if (this.sink === sink) return;
    // A run for an earlier sink ends at its next step: that sink is no longer live.
    this.sink = sink;
    void this.run(sink);
  }

  private async run(sink: ResultSink): Promise<void> {
    let event: PumpEvent | null = null;
    try {
      while (this.backlog.length > 0) {
        if (!(await this.room(sink))) {
          if (sink.live) event = { type: "stalled", waiting: this.backlog.length, stallMs: this.stallMs };
          return;
        }
        if (!sink.live || this.sink !== sink) return;
        const chunk = this.backlog[0]!;
        sink.write(chunk, this.readText(chunk));
        this.backlog.shift();
      }
      event = { type: "drained", resent: this.resent };
      this.resent = 0;
    } catch (error) {
      event = { type: "failed", error };
    } finally {
      if (this.sink === sink) this.sink = null;
      if (event) this.onEvent(sink, event);
    }
  }

  /** True once the sink has room; false when its client took nothing at all for `stallMs`. */
  private async room(sink: ResultSink): Promise<boolean> {
    while (!sink.hasRoom) {
      const before = sink.written;
      let timer: ReturnType<typeof setTimeout> | null = null;
      try {
        const ready = await Promise.race([
          sink.ready().then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.stallMs))),
        ]);
        if (ready) return true;
      } finally {
        if (timer) clearTimeout(timer);
      }
      if (sink.written === before) return false;
    }
    return true;
  }
}
