/**
 * Group commit: callers queue "do this once my log records are durable"; one commit (one
 * fsync) per turn of the event loop serves everything queued in it.
 */

/** Batches commits of a log and runs callbacks once their records are durable. */
export class GroupCommit {
  private pending: (() => void)[] = [];
  private scheduled = false;

  /**
   * `commit` makes everything logged so far durable; when it fails the process must stop
   * (durability is unknown), which `fatal` does.
   */
  constructor(private readonly commit: () => Promise<void>, private readonly fatal: (err: unknown) => never) {}

  /** Run `then` after the next commit. */
  after(then: () => void): void {
    this.pending.push(then);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.now();
    });
  }

  /** Commit at once and run everything waiting for it. */
  async now(): Promise<void> {
    const waiting = this.pending;
    this.pending = [];
    await this.commit().catch(this.fatal);
    for (const f of waiting) f();
  }
}
