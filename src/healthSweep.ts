/**
 * The leader monitor's health rounds: ping every watched process, count consecutive misses,
 * declare a process down after `missesToDown` of them, and ask the revival backend to start it
 * again. A revival runs beside the rounds, never inside one: a slow start (Docker pulling,
 * a control API timing out after 5 s) must not pause the checks of every other process.
 */
import type { ClusterProcess } from "./clusterPlan.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./log.ts";
import { RevivalError, type RevivalBackend } from "./revival.ts";

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
  log: Logger;
}

/** Health rounds with misses, down set and revivals that do not block the next round. */
export class HealthSweep {
  private readonly misses = new Map<string, number>();
  private readonly downSet = new Set<string>();
  private readonly reviving = new Map<string, Promise<void>>();

  constructor(private readonly opts: HealthSweepOptions) {}

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

  /** Forget what this monitor found down: it no longer leads, so it no longer knows. */
  forgetDown(): void {
    this.misses.clear();
    this.downSet.clear();
  }

  /** One round over `entries` on behalf of the leader of `term`; resolves when every ping has. */
  async round(entries: readonly ClusterProcess[], term: number): Promise<void> {
    // A process taken out of the cluster file is no longer down: it is gone.
    const watched = new Set(entries.map((e) => e.name));
    for (const name of this.downSet) if (!watched.has(name)) this.forget(name);
    await Promise.all(entries.map(async (e) => {
      const answered = await this.opts.ping(e);
      if (!this.opts.stillLeading()) return;
      if (answered) {
        this.misses.set(e.name, 0);
        if (this.downSet.delete(e.name)) this.opts.log.info(`${e.name} is answering again`);
        return;
      }
      const n = (this.misses.get(e.name) ?? 0) + 1;
      this.misses.set(e.name, n);
      if (n < this.opts.missesToDown) return;
      if (!this.downSet.has(e.name)) {
        this.downSet.add(e.name);
        this.opts.log.warn(`${e.name} (${e.role}) is down: ${n} health checks missed`);
      }
      // Asked again on every round while it stays down; the backend's policy paces the attempts.
      this.startRevival(e.name, term);
    }));
  }

  /** Resolves once every revival in flight has settled (for a clean stop). */
  async settled(): Promise<void> {
    await Promise.all(this.reviving.values());
  }

  private forget(name: string): void {
    this.downSet.delete(name);
    this.misses.delete(name);
  }

  private startRevival(name: string, term: number): void {
    const backend = this.opts.backend;
    if (!backend || this.reviving.has(name)) return;
    const attempt = backend.revive(name, term).then(
      () => this.opts.onRevived(name),
      (err: unknown) => {
        if (!(err instanceof RevivalError && (err.code === "REVIVAL_BACKOFF" || err.code === "REVIVAL_BUDGET_EXHAUSTED"))) this.opts.log.warn(errorMessage(err));
      },
    ).finally(() => this.reviving.delete(name));
    this.reviving.set(name, attempt);
  }
}
