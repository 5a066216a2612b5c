/**
 * Progress of a long job: a redrawn status line on stderr when it is a TTY, otherwise a
 * periodic line on stdout (stderr stays free for the one-line failure reason).
 */

/** Reports progress; `update` is cheap to call often. */
export class Progress {
  private lastDraw = 0;
  private readonly started = performance.now();
  private readonly tty: boolean;

  constructor(private readonly enabled: boolean, private readonly intervalMs = { tty: 200, log: 5000 }) {
    this.tty = Boolean(process.stderr.isTTY);
  }

  /** Offer the current status text; drawn when enough time has passed. */
  update(text: () => string): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (this.lastDraw > 0 && now - this.lastDraw < (this.tty ? this.intervalMs.tty : this.intervalMs.log)) return;
    this.lastDraw = now;
    const elapsed = ((now - this.started) / 1000).toFixed(1);
    if (this.tty) process.stderr.write(`\r\x1b[2K[${elapsed}s] ${text()}`);
    else process.stdout.write(`[${elapsed}s] ${text()}\n`);
  }

  /** End the status line (TTY) so later output starts on a fresh line. */
  finish(): void {
    if (this.enabled && this.tty && this.lastDraw > 0) process.stderr.write("\n");
  }
}
