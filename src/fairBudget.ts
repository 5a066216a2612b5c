/**
 * A byte budget split evenly among its current holders, with hysteresis: the gateway's bound on
 * unconfirmed batch bytes across sessions (--max-in-flight-bytes). A holder at its share must
 * stop taking more until it is back under half of it; the others go on. One pause for everyone
 * instead let whichever client was read first afterwards take the room, and five equal sessions
 * finished up to 4× apart (bench/README.md).
 */

/** What a holder's reader must do after a change of its bytes: stop, go on again, or nothing. */
export type BudgetVerdict = "pause" | "resume" | null;

/** The budget; `K` identifies a holder (the gateway uses its sessions). */
export class FairBudget<K> {
  /** Bytes per holder; only holders with bytes are present. */
  private readonly held = new Map<K, number>();
  private readonly paused = new Set<K>();

  /** @param bytes the whole budget, shared by every holder with bytes held */
  constructor(private readonly bytes: number) {}

  /**
   * Add `delta` bytes held by `key` (negative: released). A holder at or above its share is told
   * to pause; a paused one under half its share to resume. A paused holder still holds bytes,
   * so the release that resumes it always comes.
   */
  weigh(key: K, delta: number): BudgetVerdict {
    const now = (this.held.get(key) ?? 0) + delta;
    if (now > 0) this.held.set(key, now);
    else this.held.delete(key);
    const share = this.bytes / Math.max(1, this.held.size);
    if (!this.paused.has(key) && now >= share) {
      this.paused.add(key);
      return "pause";
    }
    if (this.paused.has(key) && now < share / 2) {
      this.paused.delete(key);
      return "resume";
    }
    return null;
  }

  /** True while `key` was told to pause and not yet to resume. */
  isPaused(key: K): boolean {
    return this.paused.has(key);
  }

  /** Bytes held by `key` (0 when none). */
  heldBy(key: K): number {
    return this.held.get(key) ?? 0;
  }
}
