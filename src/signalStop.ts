/**
 * How a running role stops on SIGINT or SIGTERM. The first signal starts its shutdown (stop
 * consuming, finish the message in hand, commit, close the logs). A stop must end, however: an
 * aggregator publishing a result to a broker that went away waits for its link, and its shutdown
 * with it, until the broker returns; an orphan told to stop by its parent watch, or a role run by
 * hand, would then hold its state directory's lock for as long. So the process exits anyway once
 * SHUTDOWN_GRACE_MS passed since the signal, or at a second signal, as a crash would leave it: what was acked is
 * in the logs, the rest is delivered again. A shutdown that fails (its final commit, say) exits
 * as any such failure does (70 for the log), not as an unhandled rejection (1).
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

/** A handler for stop signals: the first shuts down, within the grace; a second exits at once. */
export function signalStopper(deps: SignalStopDeps): (signal: StopSignal) => void {
  const graceMs = deps.graceMs ?? SHUTDOWN_GRACE_MS;
  let stopping = false;
  return (signal) => {
    if (stopping) {
      deps.log.warn(`${signal} again: exiting without waiting for the shutdown (what was acked is in the logs, the rest is delivered again)`);
      return deps.exit(signalExitCode(signal));
    }
    stopping = true;
    deps.log.info(`${signal}: shutting down`);
    const overdue = setTimeout(() => {
      deps.log.warn(`the shutdown did not finish within ${graceMs / 1000} s (waiting for the broker?): exiting without it (what was acked is in the logs, the rest is delivered again)`);
      deps.exit(signalExitCode(signal));
    }, graceMs);
    // Kept after the shutdown resolved, for what follows it (closing the broker connection), but
    // not what keeps the process alive: a stop that finished exits at once.
    overdue.unref();
    deps.shutdown().catch(
      (err: unknown) => {
        clearTimeout(overdue);
        deps.log.error(`shutdown failed: ${codedMessage(err)}`);
        deps.exit(exitCodeOf(err));
      },
    );
  };
}
