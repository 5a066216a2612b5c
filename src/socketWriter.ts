/**
 * Bun's socket.write may write only part of its input; this keeps the rest and writes it on
 * `drain`, and lets producers wait until the backlog is small (TCP backpressure).
 */
import { settledWithin } from "./settledWithin.ts";

/** The part of a Bun socket we write to. */
export interface WritableSocket {
  write(data: Uint8Array): number;
  end(): void;
  /** Close at once, dropping what the kernel still holds. */
  terminate(): void;
}

/** Queued writer for one socket. */
export class SocketWriter {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private writtenBytes = 0;
  private waiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly socket: WritableSocket, private readonly highWaterBytes = 1 << 20) {}

  /** Write (or queue) bytes; never blocks. The bytes must stay unchanged until written. */
  write(data: Uint8Array): void {
    const rest = this.writeNow(data);
    if (rest) this.enqueue(rest);
  }

  /**
   * Write bytes the caller will reuse as soon as this returns (an encoder's scratch buffer): the
   * socket takes what it can now and only the rest is copied into the queue.
   */
  writeTransient(data: Uint8Array): void {
    const rest = this.writeNow(data);
    // Not rest.slice(): on a Buffer (what msgpackr returns) that is a view, not a copy.
    if (rest) this.enqueue(new Uint8Array(rest));
  }

  /** Hand the socket what it takes now (nothing while older bytes wait); returns what is left, or null. */
  private writeNow(data: Uint8Array): Uint8Array | null {
    if (this.closed) return null;
    if (this.queue.length > 0) return data;
    const n = this.socket.write(data);
    this.writtenBytes += Math.max(n, 0);
    return n >= data.length ? null : data.subarray(Math.max(n, 0));
  }

  private enqueue(data: Uint8Array): void {
    this.queue.push(data);
    this.queuedBytes += data.length;
  }

  /** Call from the socket's drain handler. */
  drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      this.writtenBytes += Math.max(n, 0);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(n, 0));
        this.queuedBytes -= Math.max(n, 0);
        // ready() is due as soon as the queue is back under the mark, not only once it is empty
        // (a slow reader would otherwise look like one that reads nothing).
        if (this.queuedBytes <= this.highWaterBytes) this.wake();
        return;
      }
      this.queue.shift();
      this.queuedBytes -= head.length;
    }
    this.wake();
  }

  /** Wake every waiter; each checks its own condition again (ready and flushed loop). */
  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  /** Bytes the socket has accepted so far (a reader's progress). */
  get written(): number {
    return this.writtenBytes;
  }

  /** Bytes waiting for the socket to accept them. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** True when queued bytes are at most the high-water mark (what `ready()` waits for), or the socket is gone. */
  get hasRoom(): boolean {
    return this.closed || this.queuedBytes <= this.highWaterBytes;
  }

  /** Resolves once queued bytes are under the high-water mark. */
  async ready(): Promise<void> {
    while (!this.closed && this.queuedBytes > this.highWaterBytes) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Resolves once everything queued has been handed to the kernel. */
  async flushed(): Promise<void> {
    while (!this.closed && this.queue.length > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Close the socket at once, dropping what is queued: for a peer that reads nothing. */
  abort(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.close();
  }

  /** Mark closed (the socket is gone); wakes waiters. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.wake();
  }

  /** Resolves once the socket is closed (the peer hung up, or abort). */
  private async whenClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  /**
   * Flush, then end the socket. With `stallMs`, a peer that takes none of the queued bytes for
   * that long is cut off (between `stallMs` and twice that after its last byte, as progress is
   * checked every `stallMs`): otherwise a client that stops reading would keep its socket and
   * queue forever. A slow reader that keeps taking bytes is never cut off. What the kernel took
   * is out of sight, so a peer that has not closed its side `stallMs` after the end is cut off
   * too: one that never reads would otherwise hold a half-closed socket for good.
   */
  async end(stallMs?: number): Promise<void> {
    const stall = stallMs === undefined ? null : new StallWatch(() => this.writtenBytes, stallMs);
    const outcome = await (stall ? Promise.race([this.flushed().then(() => "flushed" as const), stall.stalled]) : this.flushed());
    stall?.stop();
    if (this.closed) return;
    if (outcome === "stalled") return this.abort();
    this.socket.end();
    if (stallMs === undefined || this.closed) return;
    await settledWithin(this.whenClosed(), stallMs);
    this.abort();
  }
}

/** Resolves `stalled` once `progress()` has not moved for `stallMs`; checked every `stallMs`. */
class StallWatch {
  readonly stalled: Promise<"stalled">;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(progress: () => number, stallMs: number) {
    let seen = progress();
    this.stalled = new Promise((resolve) => {
      const check = (): void => {
        const now = progress();
        if (now === seen) return resolve("stalled");
        seen = now;
        this.timer = setTimeout(check, stallMs);
      };
      this.timer = setTimeout(check, stallMs);
    });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
