/**
 * A role's log, spool or spilled run failed: what is durable is unknown, and the role can promise
 * nothing more. A role process exits 70, and its supervisor revives it from what is durable; a
 * role run in-process (tests, an in-process cluster) halts instead, and its run() rejects with
 * the failure, so one failing role does not take the whole process down.
 */
import { codedMessage, STORAGE_FAILURE_EXIT } from "./errors.ts";
import type { Logger } from "./log.ts";

/**
 * Told a role's first storage failure, before the role halts. A role's command passes
 * exitOnFatal; in-process users may pass their own (or none: run() rejects with it anyway).
 */
export type OnFatal = (err: unknown) => void;

/** The exit status of a role whose storage failed (defined in errors.ts beside exitCodeOf). */
export { STORAGE_FAILURE_EXIT };

/** A role process's OnFatal: say that `what` failed, and exit 70 for the supervisor to revive it. */
export function exitOnFatal(log: Logger, what: string): OnFatal {
  return (err) => {
    log.error(`${what} failure, exiting: ${codedMessage(err)}`);
    process.exit(STORAGE_FAILURE_EXIT);
  };
}

/**
 * A role's storage failure, told once: the first is handed to `onFatal`, then `halt` stops the
 * role's work; a later one (the same failure met again on the way down) is dropped.
 */
export class FatalStop {
  /** Rejects with the first failure: a role's run() races it, so that it ends with the failure. */
  readonly halted: Promise<never>;
  private failure: { err: unknown } | null = null;
  private rejectHalted: (err: unknown) => void = () => {};

  constructor(private readonly onFatal: OnFatal, private readonly halt: (err: unknown) => void) {
    this.halted = new Promise<never>((_, reject) => (this.rejectHalted = reject));
    // A role halted before its run() was called has nobody awaiting this yet.
    this.halted.catch(() => {});
  }

  /** True once a failure was told. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** `work`, unless the role halts first: then the failure (a role's run() ends with it). */
  orFailure<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.halted]);
  }

  /** Resolves once `work` does or the role halted (a role's shutdown(): a halt stopped it too). */
  orHalt(work: Promise<void>): Promise<void> {
    return Promise.race([work, this.halted.catch(() => {})]);
  }

  /**
   * Tell the first failure, then halt the role. Told first: a role process's onFatal exits there,
   * before the halt or anything else runs. Whatever either throws, the role is halted and its
   * run() ends with the failure.
   */
  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = { err };
    try {
      this.onFatal(err);
    } finally {
      try {
        this.halt(err);
      } finally {
        this.rejectHalted(err);
      }
    }
  }
}
