/**
 * The gateway's view of whether the broker takes publishes, from its probe (src/publishProbe.ts),
 * and what its log says of it. A hold has no end of its own (clients keep waiting, stall deadlines
 * wait), so it is said when it starts, again every `reminderMs` while it lasts, and when it ends.
 */
import type { Logger } from "./log.ts";

/** How often a broker that takes no publishes is mentioned again in the log. */
export const HELD_REMINDER_MS = 60_000;

/** What BrokerHold needs of the probe: one answer per interval. */
export interface HoldProbe {
  /** True when the broker took no publish for the last interval (PublishProbe.tick). */
  tick(): boolean;
}

/** Tracks a hold across the gateway's heartbeats. */
export class BrokerHold {
  /** Since when the broker has taken no publish (performance.now()), or null while it takes them. */
  private sinceMs: number | null = null;
  /** When the hold was last logged. */
  private toldMs = 0;

  constructor(
    private readonly probe: HoldProbe,
    private readonly intervalMs: number,
    private readonly log: Pick<Logger, "info" | "warn">,
    private readonly reminderMs = HELD_REMINDER_MS,
  ) {}

  /** Whether a hold is on (as of the last tick). */
  get held(): boolean {
    return this.sinceMs !== null;
  }

  /** Probe once (a heartbeat, at `now`); logs a hold's start, reminders and end. Returns whether the broker is held. */
  tick(now: number): boolean {
    const held = this.probe.tick();
    if (held && this.sinceMs === null) {
      this.sinceMs = this.toldMs = now;
      this.log.warn(`the broker confirmed no publish for ${this.intervalMs} ms (a resource alarm, quorum queues without their majority, or the broker unreachable): stall deadlines (--result-timeout-s) wait until it does`);
    } else if (held && this.sinceMs !== null && now - this.toldMs >= this.reminderMs) {
      this.toldMs = now;
      this.log.warn(`the broker has confirmed no publish for ${((now - this.sinceMs) / 1000).toFixed(0)} s: sessions awaiting results wait (see the broker's alarms, its cluster's nodes and this gateway's connection to it)`);
    } else if (!held && this.sinceMs !== null) {
      this.log.info(`the broker takes publishes again after ${((now - this.sinceMs) / 1000).toFixed(1)} s: stall deadlines run afresh`);
      this.sinceMs = null;
    }
    return held;
  }
}
