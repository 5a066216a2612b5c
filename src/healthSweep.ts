/**
 * The leader monitor's health rounds: ping every watched process, count consecutive misses,
 * declare a process down after `missesToDown` of them, and ask the revival backend to start it
 * again. A revival runs beside the rounds, never inside one: a slow start (Docker pulling,
 * a control API timing out after 5 s) must not pause the checks of every other process.
 *
 * A process the backend finds running (alive but silent: hung, stopped, or just busy for a
 * moment) is left alone, and asked about again every second (it may die meanwhile), until it
 * has been silent for `hungAfterMs`; then it is replaced (killed and started again), since a
 * hung consumer holds its queue's messages for good. One not seen answering since it started
 * (this monitor started it, or its start is unknown here: coffee up or another leader started
 * it) gets twice `hungAfterMs`: a fresh one replaying a long log is slow, not hung, and killing
 * it would only start the replay over; but one that hung before its first answer must not be
 * kept for good either (it was, when this monitor had started it). Log replays answer health
 * checks as they apply records (src/loopYield.ts), and the health server answers before any of
 * it, so the longer bound covers only a single step longer than that: reading and checking the
 * log's files, or loading a huge snapshot.
 */
import type { ClusterProcess } from "./clusterPlan.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./log.ts";
import { RevivalError, type RevivalBackend } from "./revival.ts";

/** How often a process found running but silent is asked about again (it may have died since). */
const RUNNING_RECHECK_MS = 1000;

/** Options of `HealthSweep`. */
export interface HealthSweepOptions {
  /** True if `entry` answered its health check in time. */
  ping: (entry: ClusterProcess) => Promise<boolean>;
  /** Consecutive misses before a process is declared down (≥ 1). */
  missesToDown: number;
  /** Where revivals go; null: detect and report only. */
  backend: RevivalBackend | null;
  /** Asked again after each ping: a leader that stepped down mid-round records and revives nothing. */
  stillLeading: () => boolean;
  /** Called once per revival the backend accepted. */
  onRevived: (name: string) => void;
  /** Silence after which a process found running is replaced. */
  hungAfterMs: number;
  /** Monotonic clock in ms (default `performance.now()`). */
  now?: () => number;
  log: Logger;
}

/** Health rounds with misses, down set and revivals that do not block the next round. */
export class HealthSweep {
  private readonly misses = new Map<string, number>();
  private readonly downSet = new Set<string>();
  private readonly reviving = new Map<string, Promise<void>>();
  /** When each silent process missed its first check of the current streak. */
  private readonly silentSince = new Map<string, number>();
  /** When the backend last found each silent process running (nothing started). */
  private readonly foundRunningAt = new Map<string, number>();
  /** Processes that answered a check since this monitor last started them. */
  private readonly answeredSinceStart = new Set<string>();
  /**
   * Processes whose start this monitor knows of: it started them, or saw their pid change in the
   * cluster file. The others were there when it began to lead.
   */
  private readonly startedHere = new Set<string>();
  /** The pid the cluster file gave each process at its last check: a new one is a new process. */
  private readonly pids = new Map<string, number>();
  /** Bumped by `forgetDown`: outcomes of revivals asked for before it change nothing. */
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly opts: HealthSweepOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Processes currently declared down. */
  get down(): ReadonlySet<string> {
    return this.downSet;
  }

  /** Revival attempts not yet settled. */
  get revivalsInFlight(): number {
    return this.reviving.size;
  }

  /** Forget every miss count (a new term starts counting afresh). */
  resetMisses(): void {
    this.misses.clear();
  }

  /**
   * Forget what this monitor found down: it no longer leads, so it no longer knows. What it
   * started and heard answer goes too: another leader may restart or hear them meanwhile.
   */
  forgetDown(): void {
    this.generation++;
    this.misses.clear();
    this.downSet.clear();
    this.silentSince.clear();
    this.foundRunningAt.clear();
    this.answeredSinceStart.clear();
    this.startedHere.clear();
  }

  /** One round over `entries` on behalf of the leader of `term`; resolves when every ping has. */
  async round(entries: readonly ClusterProcess[], term: number): Promise<void> {
    // A process taken out of the cluster file is no longer down: it is gone.
    const watched = new Set(entries.map((e) => e.name));
    for (const name of this.downSet) if (!watched.has(name)) this.forget(name);
    for (const name of this.pids.keys()) if (!watched.has(name)) this.pids.delete(name);
    await Promise.all(entries.map(async (e) => {
      // Started again by someone else (coffee up, a request that waited): a fresh process gets a
      // fresh silence clock, and the longer bound until it answers once, as one started here does.
      const known = this.pids.get(e.name);
      if (e.pid != null) {
        if (known !== undefined && known !== e.pid) {
          this.silentSince.delete(e.name);
          this.foundRunningAt.delete(e.name);
          this.answeredSinceStart.delete(e.name);
          // Its start is known: it is new since the last round (this monitor's revival, or another's).
          this.startedHere.add(e.name);
        }
        this.pids.set(e.name, e.pid);
      }
      const answered = await this.opts.ping(e);
      if (!this.opts.stillLeading()) return;
      if (answered) {
        this.misses.set(e.name, 0);
        this.silentSince.delete(e.name);
        this.foundRunningAt.delete(e.name);
        this.answeredSinceStart.add(e.name);
        if (this.downSet.delete(e.name)) this.opts.log.info(`${e.name} is answering again`);
        return;
      }
      const n = (this.misses.get(e.name) ?? 0) + 1;
      this.misses.set(e.name, n);
      if (!this.silentSince.has(e.name)) this.silentSince.set(e.name, this.now());
      if (n < this.opts.missesToDown) return;
      if (!this.downSet.has(e.name)) {
        this.downSet.add(e.name);
        this.opts.log.warn(`${e.name} (${e.role}) is down: ${n} health checks missed`);
      }
      // Asked again on every round while it stays down; the backend's policy paces the attempts.
      this.startRevival(e.name, term, e.pid ?? null);
    }));
  }

  /** Resolves once every revival in flight has settled (for a clean stop). */
  async settled(): Promise<void> {
    await Promise.all(this.reviving.values());
  }

  private forget(name: string): void {
    this.pids.delete(name);
    this.downSet.delete(name);
    this.misses.delete(name);
    this.silentSince.delete(name);
    this.foundRunningAt.delete(name);
    this.answeredSinceStart.delete(name);
    this.startedHere.delete(name);
  }

  /** `pid`: the cluster file's, the process a replace is meant for. */
  private startRevival(name: string, term: number, pid: number | null): void {
    const backend = this.opts.backend;
    if (!backend || this.reviving.has(name)) return;
    const now = this.now();
    const silentMs = now - (this.silentSince.get(name) ?? now);
    const hung = silentMs >= (this.answeredSinceStart.has(name) ? 1 : 2) * this.opts.hungAfterMs;
    const runningAt = this.foundRunningAt.get(name);
    if (!hung && runningAt !== undefined && now - runningAt < RUNNING_RECHECK_MS) return;
    const generation = this.generation;
    const attempt = backend.revive(name, term, { replace: hung, pid }).then(
      (outcome) => {
        if (generation !== this.generation) return;
        if (outcome === "running") {
          if (runningAt === undefined) {
            this.opts.log.warn(`${name} is running but does not answer its health checks; ${this.answeredSinceStart.has(name) ? `it is replaced if silent for ${this.opts.hungAfterMs / 1000} s` : `${this.startedHere.has(name) ? "it has not answered since its start" : "its start is unknown here"}, so it may be replaying its log: it is replaced if silent for ${(2 * this.opts.hungAfterMs) / 1000} s`}`);
          }
          this.foundRunningAt.set(name, this.now());
          return;
        }
        this.foundRunningAt.delete(name);
        // The new process gets a fresh silence clock, and must answer once before it can be taken for hung.
        this.silentSince.delete(name);
        this.answeredSinceStart.delete(name);
        this.startedHere.add(name);
        this.opts.onRevived(name);
      },
      (err: unknown) => {
        if (!(err instanceof RevivalError && (err.code === "REVIVAL_BACKOFF" || err.code === "REVIVAL_BUDGET_EXHAUSTED"))) this.opts.log.warn(errorMessage(err));
      },
    ).finally(() => this.reviving.delete(name));
    this.reviving.set(name, attempt);
  }
}
