/**
 * Progress of a long job: a multi-line display redrawn in place on stderr when it is a TTY,
 * otherwise periodic plain lines on stdout (stderr stays free for the one-line failure reason).
 * What is drawn comes from a renderer (src/progressBars.ts for the client); this module only
 * decides when to draw and writes the bytes.
 */
import { redrawFrame } from "./progressBars.ts";

/** What to draw, asked for afresh at every tick. */
export interface ProgressRenderer {
  /** The lines of a TTY frame for a terminal `width` columns wide at clock reading `nowMs`. */
  frame(width: number, nowMs: number): string[];
  /** Plain lines to log at `nowMs` (none is fine). */
  log(nowMs: number): string[];
}

/** Where progress goes; the process's streams unless a test substitutes its own. */
export interface ProgressStreams {
  stderr: { isTTY?: boolean; columns?: number; write(text: string): unknown };
  stdout: { write(text: string): unknown };
}

/** Draws progress on a timer until `finish`; does nothing when disabled (--quiet). */
export class Progress {
  private readonly tty: boolean;
  private timer: ReturnType<typeof setInterval> | null = null;
  private drawnLines = 0;
  private finished = false;

  constructor(
    private readonly enabled: boolean,
    private readonly renderer: ProgressRenderer,
    private readonly intervalMs = { tty: 200, log: 5000 },
    private readonly streams: ProgressStreams = process,
  ) {
    this.tty = Boolean(streams.stderr.isTTY);
  }

  /**
   * Start drawing. A timer rather than draws on events: the ETA and elapsed time must move while
   * nothing arrives (waiting for results), and the sender's hot loop stays free of rendering.
   */
  start(): void {
    if (!this.enabled || this.timer || this.finished) return;
    this.timer = setInterval(() => this.tick(), this.tty ? this.intervalMs.tty : this.intervalMs.log);
    // Never the reason the process stays up.
    this.timer.unref?.();
  }

  /** Draw now (TTY) or log now (otherwise). */
  tick(): void {
    if (!this.enabled || this.finished) return;
    const now = performance.now();
    if (this.tty) {
      const lines = this.renderer.frame(this.streams.stderr.columns || 80, now);
      this.streams.stderr.write(redrawFrame(this.drawnLines, lines));
      this.drawnLines = lines.length;
    } else {
      for (const line of this.renderer.log(now)) this.streams.stdout.write(`${line}\n`);
    }
  }

  /**
   * Say `text` at once, apart from the periodic display (an event a user must not miss between
   * two log lines): above the frame on a TTY, which is drawn again below it; a line otherwise.
   */
  note(text: string): void {
    if (!this.enabled || this.finished) return;
    if (this.tty) {
      this.streams.stderr.write(`${redrawFrame(this.drawnLines, [text])}\n`);
      this.drawnLines = 0;
      this.tick();
    } else {
      this.streams.stdout.write(`${text}\n`);
    }
  }

  /** Stop; on a TTY draw the final state once more and end the frame so later output starts on a fresh line. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.finished) return;
    if (this.enabled && this.tty && this.drawnLines > 0) {
      this.tick();
      this.streams.stderr.write("\n");
    }
    this.finished = true;
  }
}
