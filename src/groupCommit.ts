/**
 * Group commit: callers queue "do this once my log records are durable"; one commit (one
 * fsync) per turn of the event loop serves everything queued in it.
 */
import { crashPoint } from "./crashPoint.ts";

/**
 * What awaits a commit of a group that stopped: it never settles, as nothing after a failed commit
 * happens in a process that exited there. A new one each time: one shared promise would keep
 * every waiter's continuation for good.
 */
const never = (): Promise<never> => new Promise<never>(() => {});

/** Batches commits of a log and runs callbacks once their records are durable. */
export class GroupCommit {
  private pending: (() => void)[] = [];
  private scheduled = false;
  private stopped = false;

  /**
   * `commit` makes everything logged so far durable; when it fails the role must stop
   * (durability is unknown), which `fatal` sees to: a process exits there, and an in-process role
   * halts, its group with it (nothing that waited on the commit runs).
   */
  constructor(private readonly commit: () => Promise<void>, private readonly fatal: (err: unknown) => void) {}

  /**
   * Commit nothing more, and run nothing that waits on a commit, now or later: the role halts
   * after a storage failure, and must not ack what its log may not hold.
   */
  stop(): void {
    this.stopped = true;
    this.pending = [];
  }

  /** Run `then` after the next commit. */
  after(then: () => void): void {
    if (this.stopped) return;
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
    if (this.stopped) return never();
    const waiting = this.pending;
    this.pending = [];
    try {
      await this.commit();
    } catch (err) {
      this.stop();
      this.fatal(err);
      return never();
    }
    // Stopped while this commit was under way (another write failed meanwhile): the role halted,
    // and acks nothing more, though these records did reach the disk.
    if (this.stopped) return never();
    if (waiting.length > 0) crashPoint("commit.durable");
    for (const f of waiting) f();
  }
}
