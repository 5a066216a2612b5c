/**
 * How the client keeps its gateway connection: connects again within one retry budget after a
 * drop: saying hello again before a welcome, resuming the session after one. Silence that
 * calls for a reconnect is src/idleWatch.ts's.
 */
import { jitteredBackoffMs } from "./backoff.ts";
import { CoffeeError, errorMessage } from "./errors.ts";

/** Time as the reconnect loop sees it (tests drive it by hand). */
export interface ReconnectClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const systemClock: ReconnectClock = { now: () => performance.now(), sleep: (ms) => Bun.sleep(ms) };

/** What the reconnect loop needs from the client run. */
export interface ReconnectOptions<C extends { close(): void }> {
  /** The gateway's address, for the give-up message. */
  host: string;
  port: number;
  /** Budget before the first welcome (0 = one attempt). */
  connectRetryMs: number;
  /** Budget after a welcome, to resume the session. */
  reconnectTimeoutMs: number;
  /** The session once welcomed, null before: which budget, backoff cap and give-up message apply. */
  session(): string | null;
  /** Open a connection (throws when it cannot). */
  open(): Promise<C>;
  /** A connection opened: it is the current one now, to say hello or resume on. */
  opened(conn: C): void;
  /** A connect begins: `reason`, the last error met; `deadlineMs`, when its budget ends (on the clock's time). */
  connecting(reason: string, deadlineMs: number): void;
  /** The budget is spent: the run fails with `err`. */
  failed(err: CoffeeError): void;
  clock?: ReconnectClock;
  /** Delay before attempt `attempt` (0-based) of a budget, at most about `maxMs` (default: jittered from 100 ms). */
  backoffMs?(attempt: number, maxMs: number): number;
}

/** Attempts to connect since the gateway last welcomed us, and until when they may go on. */
interface RetryBudget {
  deadline: number;
  attempt: number;
  lastError: string;
  /** Longest wait between attempts (about: jittered). */
  capMs: number;
  /** Waiting for a free slot (waitUntil): a gateway unreachable for --connect-retry-s in a row ends the wait early. */
  slotWait: boolean;
  /** Since when every attempt failed to connect (clock reading; null: the last one connected). */
  unreachableSince: number | null;
}

/** A budget with no attempt made yet, until `deadline`, waiting at most about `capMs` between attempts. */
function newBudget(deadline: number, capMs: number): RetryBudget {
  return { deadline, capMs, attempt: 0, lastError: "connection closed", slotWait: false, unreachableSince: null };
}

/** Longest wait between attempts before a welcome: a gateway restarting is back within seconds. */
const CONNECT_BACKOFF_CAP_MS = 2000;
/** Longest wait between attempts to resume a session. */
const RESUME_BACKOFF_CAP_MS = 5000;
/** Longest wait between attempts while the gateway is full (--wait-for-slot-s): every ask costs it a line of work. */
export const SLOT_POLL_CAP_MS = 5000;

/**
 * Connects, and connects again after a drop, within one retry budget: --connect-retry-s before
 * the first welcome, --reconnect-timeout-s after it. One budget across drops, reset only by a
 * welcome: a port that accepts and closes at once (Docker's proxy while the gateway's container
 * is down) is retried with backoff and given up on at the deadline, not reconnected to in a
 * tight loop with a fresh deadline per drop. Every attempt but the run's very first waits a
 * capped, jittered backoff, so restarted gateways are not stampeded.
 */
export class Reconnect<C extends { close(): void }> {
  private budget: RetryBudget | null = null;
  /** A connectAgain is under way (at most one at a time). */
  private busy = false;
  private ended = false;
  private readonly clock: ReconnectClock;
  private readonly backoffMs: (attempt: number, maxMs: number) => number;

  constructor(private readonly o: ReconnectOptions<C>) {
    this.clock = o.clock ?? systemClock;
    this.backoffMs = o.backoffMs ?? ((attempt, maxMs) => jitteredBackoffMs(attempt, 100, maxMs));
  }

  /** A connect is under way: a connection it replaces is left already. */
  get underWay(): boolean {
    return this.busy;
  }

  /** The gateway welcomed us: the next drop starts a fresh budget. */
  welcomed(): void {
    this.budget = null;
  }

  /**
   * The gateway is full and the client waits for a free slot until `deadlineMs` (on the
   * clock's time): the budget before a welcome runs until then at least, with at most about
   * SLOT_POLL_CAP_MS between asks. A gateway that cannot be reached for --connect-retry-s in a
   * row meanwhile ends the wait: it is gone, not full. Called on the refused connection, before
   * it is closed; the next welcome ends the wait like any budget.
   */
  waitUntil(deadlineMs: number): void {
    this.budget ??= newBudget(deadlineMs, SLOT_POLL_CAP_MS);
    this.budget.deadline = Math.max(this.budget.deadline, deadlineMs);
    this.budget.capMs = SLOT_POLL_CAP_MS;
    this.budget.slotWait = true;
  }

  /** The run ended: no more attempts, and a connection that opens late is closed. */
  stop(): void {
    this.ended = true;
  }

  /**
   * Connect and say hello, or resume the session once there is one, within the retry budget;
   * `cause`, why the last connection was lost. `first`: the run's very first attempt, without
   * a wait.
   */
  async connectAgain(cause: Error | null, first = false): Promise<void> {
    this.busy = true;
    try {
      await this.connectWithin(cause, first);
    } finally {
      this.busy = false;
    }
  }

  private async connectWithin(cause: Error | null, first: boolean): Promise<void> {
    const session = this.o.session();
    this.budget ??= session
      ? newBudget(this.clock.now() + this.o.reconnectTimeoutMs, RESUME_BACKOFF_CAP_MS)
      : newBudget(this.clock.now() + this.o.connectRetryMs, CONNECT_BACKOFF_CAP_MS);
    const r = this.budget;
    if (cause) r.lastError = cause.message;
    this.o.connecting(r.lastError, r.deadline);
    let lastFailure: unknown = cause;
    while (!this.ended) {
      // Checked before each attempt, not only after failed ones: connects that succeed and are
      // closed before a welcome use up the budget too.
      if (r.attempt > 0 && this.clock.now() >= r.deadline) return this.giveUp(r, lastFailure);
      // Never past the deadline: the last attempt is made at it, not a backoff after it.
      if (!first || r.attempt > 0) await this.clock.sleep(Math.min(this.backoffMs(r.attempt, r.capMs), Math.max(0, r.deadline - this.clock.now())));
      r.attempt++;
      if (this.ended) return;
      try {
        const c = await this.o.open();
        r.unreachableSince = null;
        // The run ended while this connect was under way: nobody will use it.
        if (this.ended) return void c.close();
        this.o.opened(c);
        return;
      } catch (err) {
        lastFailure = err;
        r.lastError = errorMessage(err);
        r.unreachableSince ??= this.clock.now();
        if (r.slotWait && this.clock.now() - r.unreachableSince >= this.o.connectRetryMs) return this.giveUp(r, lastFailure);
      }
    }
  }

  /** The retry budget is spent: the run fails, saying what the last attempt met. */
  private giveUp(r: RetryBudget, lastFailure: unknown): void {
    const session = this.o.session();
    if (session) this.o.failed(new CoffeeError("CONNECTION_LOST", `lost the gateway and could not resume session ${session} within ${this.o.reconnectTimeoutMs / 1000} s: ${r.lastError}`));
    else this.o.failed(lastFailure instanceof CoffeeError ? lastFailure : new CoffeeError("CONNECTION_LOST", `could not reach the gateway at ${this.o.host}:${this.o.port} and be welcomed within ${this.o.connectRetryMs / 1000} s: ${r.lastError}`));
  }
}
