/**
 * Backpressure from the pipeline's queues to the uploads. The fair budget (src/fairBudget.ts)
 * bounds batches until the broker confirms them; once confirmed they join queues that every
 * session shares, first in, first out. Unbounded, those queues grow for as long as uploads run,
 * the broker's memory with them, and a small session started meanwhile waits behind all of it
 * (measured: 22 s instead of 0.4 s behind four large uploads). So uploads get credit, as in
 * Flink's credit-based flow control: the gateway publishes into the pipeline at most `maxReady`
 * messages beyond the deepest queue's last polled depth, then stops reading uploading clients
 * and asks for a fresh poll; it reads them again once every queue is under half the bound. A
 * pipeline that keeps up costs one poll per `maxReady / 2` or so publishes, a few milliseconds.
 *
 * Only queues with a consumer count: one nobody reads (its stage not deployed, or stopped for
 * good) would otherwise hold every upload forever, while a stage whose process is down and being
 * revived holds its messages only for that long. A publish counts until a poll that started
 * after its confirm; a hold that only failing polls could end is let go after BLIND_HOLD_MS.
 * The bound is per queue and counts ready messages only (not those a consumer has prefetched).
 */
import type { QueueDepth } from "./transport.ts";

/** What the reader of uploads must do after a change: stop, go on again, or nothing. */
export type GateVerdict = "hold" | "release" | null;

/** How long a hold outlives polls that all fail before it is let go (the byte budget still bounds memory). */
export const BLIND_HOLD_MS = 10_000;

/** The gate; the gateway feeds it its publishes, their confirms and the broker's queue depths. */
export class BacklogGate {
  private holding = false;
  /** Publishes into the pipeline that no answered poll can have counted yet. */
  private pending = 0;
  /** Publishes settled (confirmed or failed) so far: a poll started after a confirm sees its message. */
  private settledCount = 0;
  private settledAtPollStart = 0;
  private settledCounted = 0;
  private deepestPolled: QueueDepth | null = null;
  private lastAnsweredMs: number;
  private releasedBlind = false;
  /** A blind release was reported in the current run of failing polls (an answered poll ends the run). */
  private blindReported = false;

  /**
   * @param maxReady ready messages in one queue beyond which uploads stop being read (0: never)
   * @param watched queues (unprefixed names) of the pipeline: not the results or the probe queue
   * @param nowMs the clock (performance.now() by default)
   */
  constructor(private readonly maxReady: number, private readonly watched: ReadonlySet<string>, private readonly nowMs: () => number = () => performance.now()) {
    this.lastAnsweredMs = nowMs();
  }

  /** True while uploads must not be read. */
  get held(): boolean {
    return this.holding;
  }

  /** The deepest watched queue of the last answered poll (null before one). */
  get deepest(): QueueDepth | null {
    return this.deepestPolled;
  }

  /** Publishes that no answered poll can have counted yet: the gate adds them to the deepest queue's depth. */
  get unpolled(): number {
    return this.pending;
  }

  /** The bound on ready messages (0: none); a hold ends once the count is down to half of it. */
  get bound(): number {
    return this.maxReady;
  }

  /**
   * True once, after the first release in a run of failing polls that no answered poll justified
   * (polls failed for BLIND_HOLD_MS). Later holds in the same run are let go at the next failed
   * poll without being reported again; an answered poll starts a new run.
   */
  takeBlindRelease(): boolean {
    const was = this.releasedBlind;
    this.releasedBlind = false;
    return was;
  }

  /** The gateway published one message into the pipeline; "hold" means a fresh poll is wanted. */
  publish(): GateVerdict {
    if (this.maxReady === 0) return null;
    this.pending++;
    if (this.holding || (this.deepestPolled?.messages ?? 0) + this.pending <= this.maxReady) return null;
    this.holding = true;
    return "hold";
  }

  /** One of those publishes was confirmed (or failed): it is in the queues, or never will be. */
  settled(): void {
    if (this.maxReady === 0) return;
    this.settledCount++;
  }

  /** A poll of the broker's depths is starting. */
  pollStarting(): void {
    this.settledAtPollStart = this.settledCount;
  }

  /** That poll's depths; null: the broker did not answer, which lets a hold go only once it lasted BLIND_HOLD_MS. */
  polled(depths: readonly QueueDepth[] | null): GateVerdict {
    if (this.maxReady === 0) return null;
    if (depths === null) {
      if (!this.holding || this.nowMs() - this.lastAnsweredMs < BLIND_HOLD_MS) return null;
      this.holding = false;
      this.releasedBlind = !this.blindReported;
      this.blindReported = true;
      return "release";
    }
    this.lastAnsweredMs = this.nowMs();
    this.blindReported = false;
    // Publishes confirmed before the poll started are in its depths (or consumed); the rest,
    // unconfirmed or published since, may not be, and still count.
    this.pending -= this.settledAtPollStart - this.settledCounted;
    this.settledCounted = this.settledAtPollStart;
    this.deepestPolled = null;
    for (const d of depths) {
      if (!this.watched.has(d.queue) || d.consumers === 0) continue;
      if (this.deepestPolled === null || d.messages > this.deepestPolled.messages) this.deepestPolled = d;
    }
    const depth = (this.deepestPolled?.messages ?? 0) + this.pending;
    if (this.holding && depth <= this.maxReady / 2) {
      this.holding = false;
      return "release";
    }
    if (!this.holding && depth > this.maxReady) {
      this.holding = true;
      return "hold";
    }
    return null;
  }
}
