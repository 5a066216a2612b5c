/**
 * How a running role stops on SIGINT or SIGTERM. The first signal starts its shutdown (stop
 * consuming, settle or leave the messages in hand, commit, close the logs). A stop must end,
 * however: an aggregator publishing a result to a broker that went away waits for its link, and
 * its shutdown with it, until the broker returns; an orphan told to stop by its parent watch, or
 * a role run by hand, would then hold its state directory's lock for as long. So the process
 * exits anyway once SHUTDOWN_GRACE_MS passed since the signal, or at a second SIGINT after a
 * first (Ctrl-C again), as a crash would leave it: what was acked is in the logs, the rest is
 * delivered again. Any other signal while stopping changes nothing: Ctrl-C in a terminal signals
 * the whole process group, and coffee up then sends its children SIGTERM too, which must not cut
 * their clean stop short; nor may a user's Ctrl-C while coffee up stops them with SIGTERM.
 * A shutdown that fails (its final commit, say) exits as any such failure does (70 for the log),
 * not as an unhandled rejection (1).
 */
import { codedMessage, exitCodeOf } from "./errors.ts";
import type { Logger } from "./log.ts";

/** Time a role's shutdown may take before the process exits without it. */
export const SHUTDOWN_GRACE_MS = 15_000;

/** The signals a role stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** What stopping needs from the process around it (tests give their own exit and grace). */
export interface SignalStopDeps {
  shutdown(): Promise<void>;
  log: Pick<Logger, "info" | "warn" | "error">;
  exit(code: number): void;
  graceMs?: number;
}

/** The exit status of a process ended by `signal` (128 + its number, as a shell reports it). */
export const signalExitCode = (signal: StopSignal): number => 128 + (signal === "SIGINT" ? 2 : 15);

/** A handler for stop signals: the first shuts down, within the grace; a second SIGINT exits at once. */
export function signalStopper(deps: SignalStopDeps): (signal: StopSignal) => void {
  const graceMs = deps.graceMs ?? SHUTDOWN_GRACE_MS;
  /** The signal that began the stop; null while running. */
  let first: StopSignal | null = null;
  let shutDown = false;
  return (signal) => {
    if (first !== null) {
      // Ctrl-C again. Not after a SIGTERM: coffee up stopping its children for its own reasons
      // (a refused child, coffee demo) must not have a user's first Ctrl-C cut their stops short.
      if (signal !== "SIGINT" || first !== "SIGINT") return;
      if (shutDown) return deps.exit(0);
      deps.log.warn(`${signal} again: exiting without waiting for the shutdown (what was acked is in the logs, the rest is delivered again)`);
      return deps.exit(signalExitCode(signal));
    }
    first = signal;
    deps.log.info(`${signal}: shutting down`);
    // Kept after the shutdown resolved, for what follows it (closing the broker connection,
    // flushing output), but not what keeps the process alive: a stop that finished exits at once.
    const overdue = setTimeout(() => {
      if (shutDown) {
        deps.log.warn(`the shutdown finished (its log committed), but what follows it (closing the broker connection, flushing output) did not within ${graceMs / 1000} s of the ${signal}: exiting without it`);
        return deps.exit(0);
      }
      deps.log.warn(`the shutdown did not finish within ${graceMs / 1000} s (waiting for the broker?): exiting without it (what was acked is in the logs, the rest is delivered again)`);
      deps.exit(signalExitCode(signal));
    }, graceMs);
    overdue.unref();
    deps.shutdown().then(
      () => {
        shutDown = true;
      },
      (err: unknown) => {
        clearTimeout(overdue);
        deps.log.error(`shutdown failed: ${codedMessage(err)}`);
        deps.exit(exitCodeOf(err));
      },
    );
  };
}
