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
 * Only queues with a consumer count: one nobody reads (a stage of the other deployment, left with
 * messages) would otherwise hold every upload forever, while a stage whose process is down and
 * being revived holds its messages only for that long.
 */
import type { QueueDepth } from "./transport.ts";

/** What the reader of uploads must do after a change: stop, go on again, or nothing. */
export type GateVerdict = "hold" | "release" | null;

/** The gate; the gateway feeds it its publishes and the broker's queue depths. */
export class BacklogGate {
  private holding = false;
  /** Publishes into the pipeline since the poll that gave `deepestPolled` started. */
  private published = 0;
  /** `published` when the poll under way started: those the poll may already see. */
  private publishedAtPollStart = 0;
  private deepestPolled: QueueDepth | null = null;

  /**
   * @param maxReady ready messages in one queue beyond which uploads stop being read (0: never)
   * @param watched queues (unprefixed names) of the pipeline: not the results or the probe queue
   */
  constructor(private readonly maxReady: number, private readonly watched: ReadonlySet<string>) {}

  /** True while uploads must not be read. */
  get held(): boolean {
    return this.holding;
  }

  /** The deepest watched queue of the last poll (null before one). */
  get deepest(): QueueDepth | null {
    return this.deepestPolled;
  }

  /** The gateway published one message into the pipeline; "hold" means a fresh poll is wanted. */
  publish(): GateVerdict {
    if (this.maxReady === 0) return null;
    this.published++;
    if (this.holding || (this.deepestPolled?.messages ?? 0) + this.published <= this.maxReady) return null;
    this.holding = true;
    return "hold";
  }

  /** A poll of the broker's depths is starting. */
  pollStarting(): void {
    this.publishedAtPollStart = this.published;
  }

  /** That poll's depths; null (the broker did not answer) changes nothing. */
  polled(depths: readonly QueueDepth[] | null): GateVerdict {
    if (this.maxReady === 0 || depths === null) return null;
    // Publishes made while the poll was under way may not be in its depths: they still count.
    this.published -= Math.min(this.publishedAtPollStart, this.published);
    this.publishedAtPollStart = 0;
    this.deepestPolled = null;
    for (const d of depths) {
      if (!this.watched.has(d.queue) || d.consumers === 0) continue;
      if (this.deepestPolled === null || d.messages > this.deepestPolled.messages) this.deepestPolled = d;
    }
    const depth = (this.deepestPolled?.messages ?? 0) + this.published;
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
