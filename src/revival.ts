/**
 * The interface every revival backend (docker, local control API) implements, and the pieces
 * they share: the retry policy (capped exponential backoff plus a per-node attempt budget), the
 * election-term fence, and `RevivalGuard`, which runs one revival attempt through both and
 * reports `RevivalEvent`s, so that every backend behaves and logs the same way.
 *
 * Division of labour: `revive()` makes ONE attempt (or refuses without contacting anything when
 * fenced, out of budget or backing off); the leader calls it again on each detection tick while
 * the node is down, and the guard decides whether that call may act. A backend therefore never
 * sleeps or retries internally and a call never outlives the leader's term by more than one
 * request.
 */
import { CoffeeError, ConfigError, errorMessage } from "./errors.ts";

/** What a backend reports while reviving; logged by the monitor. */
export type RevivalEvent =
  | { type: "reviving"; name: string; attempt: number; term: number }
  | { type: "revived"; name: string; attempt: number }
  /** The process is running (alive but not answering: hung, stopped); nothing was done. */
  | { type: "running"; name: string }
  /** `retryInMs` is -1 when no retry will be allowed (the budget is spent; a `gave-up` follows). */
  | { type: "failed"; name: string; attempt: number; error: string; retryInMs: number }
  | { type: "gave-up"; name: string; attempts: number }
  | { type: "fenced"; name: string; term: number; currentTerm: number };

/** What a revival did: started the process, or found it running and left it (see `replace`). */
export type RevivalOutcome = "started" | "running";

/** Options of one revival. */
export interface ReviveOptions {
  /**
   * A process found running (alive, yet silent long enough to be hung or stopped) is killed and
   * started again. Without it, a running process is left alone and the outcome is "running".
   */
  replace?: boolean;
  /**
   * With `replace`: the pid of the process judged hung (the cluster file's). A backend that can
   * tell leaves alone another process running by then (started since: a stale request must not
   * kill a fresh one, whose silence is not yet judged).
   */
  pid?: number | null;
}

/** A way of starting a dead process again (docker container, local child, ...). */
export interface RevivalBackend {
  /**
   * Ask for `name` to be started again, on behalf of the leader of `term`. Resolves when the
   * start command was accepted ("started"), or the process was found running and `replace` was
   * not asked ("running": no attempt is counted); rejects with a `RevivalError`: REVIVAL_FENCED if `term` is older
   * than a term the backend has already seen, REVIVAL_BUDGET_EXHAUSTED if the node's attempt
   * budget is spent, REVIVAL_BACKOFF if called again before the backoff delay has passed (nothing
   * was attempted; `retryInMs` says when to come back), REVIVAL_FAILED otherwise.
   */
  revive(name: string, term: number, options?: ReviveOptions): Promise<RevivalOutcome>;
}

/** Codes a `RevivalError` carries. */
export type RevivalErrorCode = "REVIVAL_FENCED" | "REVIVAL_FAILED" | "REVIVAL_BUDGET_EXHAUSTED" | "REVIVAL_BACKOFF";

/** A revival was refused or did not succeed; `code` says which (see `RevivalBackend.revive`). */
export class RevivalError extends CoffeeError {
  /** The node the revival was for. */
  readonly node: string;
  /** For REVIVAL_BACKOFF and REVIVAL_FAILED: ms until the next attempt is allowed (-1: never). */
  readonly retryInMs: number | undefined;
  /** For REVIVAL_FENCED: the newer term the backend has seen, when it says. */
  readonly newerTerm: number | undefined;
  constructor(code: RevivalErrorCode, node: string, message: string, retryInMs?: number, newerTerm?: number) {
    super(code, message);
    this.name = "RevivalError";
    this.node = node;
    this.retryInMs = retryInMs;
    this.newerTerm = newerTerm;
  }
}

/** Options of `RevivalPolicy`; all in milliseconds except `maxAttempts`. */
export interface RevivalPolicyOptions {
  /** Wait after the first attempt before the second one is allowed. */
  initialMs: number;
  /** Cap of the doubling wait. */
  maxMs: number;
  /** Attempts (failed or not) allowed per node before giving up on it. */
  maxAttempts: number;
  /** A node whose last attempt is this old gets its budget back: up that long after a start, or given up that long. */
  resetAfterMs: number;
}

/** Defaults sized for "revived within a few seconds": 250 ms doubling to 8 s, 10 attempts, reset after 60 s up. */
export const DEFAULT_REVIVAL_POLICY: Readonly<RevivalPolicyOptions> = { initialMs: 250, maxMs: 8_000, maxAttempts: 10, resetAfterMs: 60_000 };

interface NodeHistory {
  /** Attempts in the current budget window. */
  attempts: number;
  lastAttemptAt: number;
  /** Whether that attempt started the node. */
  lastSucceeded: boolean;
}

/**
 * Retry policy shared by backends: capped exponential backoff and a max-attempts budget per node.
 * Pure: it never reads the clock, every method takes `now` (ms, any monotonic origin).
 *
 * Every attempt counts against the budget, successful ones included, so a node that keeps dying
 * right after each successful start runs out of budget too. After n attempts the next one is
 * allowed `min(maxMs, initialMs * 2^(n-1))` after the last one. The budget (and the backoff) is
 * reset when the node is next looked at `resetAfterMs` or more after a successful start that
 * was the last attempt (it was healthy for that long, since no revival was needed in between),
 * or `resetAfterMs` past the backoff that followed a failed last attempt: if the budget was spent
 * on failures, the backend that refused (Docker restarting, say) may be back, so a node is given
 * up for a while, never for good.
 * `reset()` gives the budget back at once (an operator's decision).
 */
export class RevivalPolicy {
  /** The validated options. */
  readonly options: Readonly<RevivalPolicyOptions>;
  private readonly nodes = new Map<string, NodeHistory>();

  constructor(opts: RevivalPolicyOptions) {
    const { initialMs, maxMs, maxAttempts, resetAfterMs } = opts;
    if (!Number.isFinite(initialMs) || initialMs < 0) throw new ConfigError(`revival backoff initialMs must be a finite number ≥ 0, got ${initialMs}`);
    if (!Number.isFinite(maxMs) || maxMs < initialMs) throw new ConfigError(`revival backoff maxMs must be finite and ≥ initialMs (${initialMs}), got ${maxMs}`);
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new ConfigError(`revival maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
    if (!(resetAfterMs >= 0)) throw new ConfigError(`revival resetAfterMs must be ≥ 0, got ${resetAfterMs}`);
    this.options = { initialMs, maxMs, maxAttempts, resetAfterMs };
  }

  /** Attempts counted against `name`'s budget at `now` (0 for a node never revived or reset). */
  attempts(name: string, now: number): number {
    return this.current(name, now)?.attempts ?? 0;
  }

  /** Backoff wait that follows the `n`th attempt (n ≥ 1): initialMs doubling, capped at maxMs. */
  delayAfter(n: number): number {
    const { initialMs, maxMs } = this.options;
    if (n < 1) return 0;
    // 2^(n-1) overflows to Infinity for huge n, and min() keeps the cap
    return Math.min(maxMs, initialMs * 2 ** (n - 1));
  }

  /** Ms until an attempt on `name` is allowed (0: now). Independent of the budget; see `exhausted`. */
  nextDelay(name: string, now: number): number {
    const h = this.current(name, now);
    if (!h) return 0;
    return Math.max(0, h.lastAttemptAt + this.delayAfter(h.attempts) - now);
  }

  /** True once `name` has used all `maxAttempts` attempts of its budget window. */
  exhausted(name: string, now: number): boolean {
    return this.attempts(name, now) >= this.options.maxAttempts;
  }

  /** The nodes whose budget is spent at `now` (given up on until it resets), with the attempts it took and when the last was made. */
  spent(now: number): { name: string; attempts: number; lastAttemptAt: number }[] {
    const found: { name: string; attempts: number; lastAttemptAt: number }[] = [];
    // A copy of the names: looking a node up drops its history once reset.
    for (const name of [...this.nodes.keys()]) {
      const h = this.current(name, now);
      if (h !== undefined && h.attempts >= this.options.maxAttempts) found.push({ name, attempts: h.attempts, lastAttemptAt: h.lastAttemptAt });
    }
    return found;
  }

  /** True if an attempt on `name` may be made at `now`: budget left and backoff elapsed. */
  due(name: string, now: number): boolean {
    return !this.exhausted(name, now) && this.nextDelay(name, now) === 0;
  }

  /** Record an attempt made at `now` that failed; returns the wait before the next one (-1 if the budget is now spent). */
  recordFailure(name: string, now: number): number {
    const h = this.record(name, now);
    h.lastSucceeded = false;
    return h.attempts >= this.options.maxAttempts ? -1 : this.delayAfter(h.attempts);
  }

  /** Record an attempt made at `now` whose start command was accepted. */
  recordSuccess(name: string, now: number): void {
    this.record(name, now).lastSucceeded = true;
  }

  /** Forget `name`'s history (e.g. an operator revived it by hand): full budget, no backoff. */
  reset(name: string): void {
    this.nodes.delete(name);
  }

  private record(name: string, now: number): NodeHistory {
    const h = this.current(name, now) ?? { attempts: 0, lastAttemptAt: now, lastSucceeded: false };
    h.attempts++;
    h.lastAttemptAt = now;
    this.nodes.set(name, h);
    return h;
  }

  /**
   * `name`'s history, after dropping it if the node was up `resetAfterMs` since a successful
   * start, or left alone `resetAfterMs` past the backoff that followed a failed one (so a backoff
   * longer than that is served in full, and attempts are still counted toward the budget).
   */
  private current(name: string, now: number): NodeHistory | undefined {
    const h = this.nodes.get(name);
    const quietFor = h === undefined ? 0 : this.options.resetAfterMs + (h.lastSucceeded ? 0 : this.delayAfter(h.attempts));
    if (h !== undefined && now - h.lastAttemptAt >= quietFor) {
      this.nodes.delete(name);
      return undefined;
    }
    return h;
  }
}

/** Options of `RevivalGuard`. */
export interface RevivalGuardOptions {
  policy?: RevivalPolicy;
  /** Receives every event (the monitor logs them). Exceptions it throws are ignored. */
  onEvent?: (event: RevivalEvent) => void;
  /** Clock for the policy (default `performance.now()`). */
  now?: () => number;
}

/**
 * The backend-independent half of `revive()`: term fencing, attempt budget, backoff, events and
 * error codes. A backend calls `guard.run(name, term, () => startIt(name))`. Concurrent calls
 * for the same node share the attempt already in flight instead of starting a second one.
 */
export class RevivalGuard {
  /** The policy consulted and updated by every attempt (readable for status output). */
  readonly policy: RevivalPolicy;
  private readonly onEvent: (event: RevivalEvent) => void;
  private readonly now: () => number;
  private highest = 0;
  private readonly inFlight = new Map<string, Promise<RevivalOutcome>>();
  private readonly gaveUp = new Set<string>();

  constructor(opts: RevivalGuardOptions = {}) {
    this.policy = opts.policy ?? new RevivalPolicy(DEFAULT_REVIVAL_POLICY);
    const sink = opts.onEvent;
    this.onEvent = (e) => {
      try {
        sink?.(e);
      } catch {
        // a broken logger must not turn a revival into a failure
      }
    };
    this.now = opts.now ?? (() => performance.now());
  }

  /** Highest election term seen so far (0 before any). */
  get highestTerm(): number {
    return this.highest;
  }

  /**
   * Learn of `term` without reviving anything (e.g. the monitor saw a newer leader), so later
   * calls from older terms are fenced. Returns false if `term` is itself older than one seen.
   */
  observeTerm(term: number): boolean {
    if (term < this.highest) return false;
    this.highest = term;
    return true;
  }

  /** Run one guarded attempt: see `RevivalBackend.revive` for what it resolves and rejects with. */
  run(name: string, term: number, start: () => Promise<RevivalOutcome>): Promise<RevivalOutcome> {
    if (!Number.isInteger(term) || term < 0) return Promise.reject(new RevivalError("REVIVAL_FAILED", name, `cannot revive ${name}: term must be a non-negative integer, got ${term}`));
    if (!this.observeTerm(term)) {
      this.onEvent({ type: "fenced", name, term, currentTerm: this.highest });
      return Promise.reject(new RevivalError("REVIVAL_FENCED", name, `refused to revive ${name} for term ${term}: term ${this.highest} has been seen (stale leader)`, undefined, this.highest));
    }
    const pending = this.inFlight.get(name);
    if (pending) return pending;
    const now = this.now();
    if (this.policy.exhausted(name, now)) {
      const attempts = this.policy.attempts(name, now);
      // announce once per budget window; later calls just get the error
      if (!this.gaveUp.has(name)) {
        this.gaveUp.add(name);
        this.onEvent({ type: "gave-up", name, attempts });
      }
      return Promise.reject(new RevivalError("REVIVAL_BUDGET_EXHAUSTED", name, `gave up reviving ${name}: all ${attempts} attempts of its budget are spent`, -1));
    }
    this.gaveUp.delete(name);
    const wait = this.policy.nextDelay(name, now);
    if (wait > 0) return Promise.reject(new RevivalError("REVIVAL_BACKOFF", name, `not reviving ${name} yet: backing off for another ${Math.ceil(wait)} ms`, wait));
    const attempt = this.policy.attempts(name, now) + 1;
    const run = this.attempt(name, term, attempt, start).finally(() => this.inFlight.delete(name));
    this.inFlight.set(name, run);
    return run;
  }

  private async attempt(name: string, term: number, attempt: number, start: () => Promise<RevivalOutcome>): Promise<RevivalOutcome> {
    this.onEvent({ type: "reviving", name, attempt, term });
    let outcome: RevivalOutcome;
    try {
      outcome = await start();
    } catch (err) {
      // The backend fenced us (it has seen a newer term): no start failed, so nothing counts
      // against the budget, and the term is kept so later requests are refused here without
      // asking. The election is not told: under a partition between monitors, a stale leader
      // stepping down would elect itself above its rival and fence it in turn, back and forth.
      if (err instanceof RevivalError && err.code === "REVIVAL_FENCED") {
        if (err.newerTerm !== undefined) {
          this.observeTerm(err.newerTerm);
          this.onEvent({ type: "fenced", name, term, currentTerm: err.newerTerm });
        }
        throw err;
      }
      const retryInMs = this.policy.recordFailure(name, this.now());
      const error = errorMessage(err);
      this.onEvent({ type: "failed", name, attempt, error, retryInMs });
      if (retryInMs < 0) {
        this.gaveUp.add(name);
        this.onEvent({ type: "gave-up", name, attempts: attempt });
      }
      // A refusal (fenced) speaks for itself; a failure is told with its attempt.
      const refused = err instanceof RevivalError && err.code !== "REVIVAL_FAILED";
      throw new RevivalError("REVIVAL_FAILED", name, refused ? error : `could not revive ${name} (attempt ${attempt}): ${error}`, retryInMs);
    }
    // Found running: nothing was started, so nothing counts against its budget.
    if (outcome === "running") {
      this.onEvent({ type: "running", name });
      return outcome;
    }
    this.policy.recordSuccess(name, this.now());
    this.onEvent({ type: "revived", name, attempt });
    return outcome;
  }
}
