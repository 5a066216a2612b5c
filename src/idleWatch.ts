/**
 * The client's watch on a silent gateway: nothing heard for the limit, heartbeats included, means
 * the gateway is gone (a host that died sends no FIN) or stuck, and the connection is left for a
 * new one.
 */

/** Timers as the idle watch sees them (tests drive them by hand). */
export interface IdleTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const systemTimers: IdleTimers = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A check this late was held up by a freeze of this process, not by the event loop's load. */
const LATE_MS = 1000;
/** How long after a late check silence is judged: bytes that waited in the socket are read by then. */
const SECOND_LOOK_MS = 250;

/**
 * Silence on the gateway connection: `silent` is called once nothing came for `limitMs` since
 * the watch was last armed or bytes were last heard, and the watch re-arms itself. Bytes count
 * whether or not they complete a frame: a large result chunk on a slow link is one frame that
 * takes long to arrive, and is not silence.
 */
export class IdleWatch {
  private heardMs: number;
  private timer: unknown = null;
  private ended = false;
  /** When the pending check is due; a check that runs far later found this process frozen. */
  private dueMs = 0;
  /** The pending check is a late one's second look. */
  private lookingAgain = false;

  /** `limitMs`: the silence taken for a lost gateway (the welcome may stretch it: the limit of the moment). */
  constructor(public limitMs: number, private readonly silent: () => void, private readonly timers: IdleTimers = systemTimers) {
    this.heardMs = timers.now();
  }

  /** Bytes came from the gateway. */
  readonly heard = (): void => {
    this.heardMs = this.timers.now();
  };

  /** Count silence from now (a new connection, a new limit). */
  arm(): void {
    this.heard();
    if (this.timer !== null) this.timers.clear(this.timer);
    // A heartbeat read while the last connection closes must not keep a finished run alive.
    this.timer = this.ended ? null : this.schedule(this.limitMs);
  }

  private schedule(ms: number, lookingAgain = false): unknown {
    this.dueMs = this.timers.now() + ms;
    this.lookingAgain = lookingAgain;
    return this.timers.set(this.check, ms);
  }

  /** The run ended: no more timers. */
  stop(): void {
    this.ended = true;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private readonly check = (): void => {
    if (this.ended) return;
    const now = this.timers.now();
    // Run far later than due: this process was frozen (SIGSTOP, a suspended laptop, a starved
    // CPU), and what the gateway sent meanwhile waits unread behind this timer. Judged now, our
    // own freeze would be blamed on the gateway and cost a resume: look again once it is read.
    if (!this.lookingAgain && now - this.dueMs > LATE_MS) {
      this.timer = this.schedule(SECOND_LOOK_MS, true);
      return;
    }
    const quietMs = now - this.heardMs;
    if (quietMs < this.limitMs) {
      this.timer = this.schedule(this.limitMs - quietMs);
      return;
    }
    this.arm();
    this.silent();
  };
}
