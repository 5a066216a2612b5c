/**
 * At most one log line per interval for a condition that can recur many times a second (a flood
 * of refused connections, forged messages, socket errors): the first is said at once, the rest
 * within the interval are counted by the caller, not logged.
 */
export class LogThrottle {
  private toldAtMs = -Infinity;

  /** `nowMs`: the monotonic clock by default, read at each call (fake timers in tests replace it). */
  constructor(private readonly intervalMs: number, private readonly nowMs: () => number = () => performance.now()) {}

  /** True when a line may be logged now, which starts the interval again. */
  due(): boolean {
    const now = this.nowMs();
    if (now - this.toldAtMs < this.intervalMs) return false;
    this.toldAtMs = now;
    return true;
  }
}
