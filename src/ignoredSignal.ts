/**
 * Whether this process started with a signal ignored, as `nohup` starts its command with SIGHUP
 * ignored. Installing a handler would undo that choice of the user's, so callers skip such
 * signals. Read from /proc/self/status (Linux); elsewhere nothing is known to be ignored.
 */
import { readFileSync } from "node:fs";
import { constants } from "node:os";

/** A signal's name, as node:os numbers them. */
type SignalName = keyof typeof constants.signals;

/** True when `signal`'s bit (n-1 for signal n) is set in `status`'s SigIgn mask (the text of /proc/<pid>/status). */
export function ignoredIn(status: string, signal: SignalName): boolean {
  const mask = /^SigIgn:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (mask === undefined) return false;
  return (BigInt(`0x${mask}`) >> BigInt(constants.signals[signal] - 1)) & 1n ? true : false;
}

/** True when this process was started with `signal` ignored; call before handling it. */
export function startedIgnoring(signal: SignalName): boolean {
  try {
    return ignoredIn(readFileSync("/proc/self/status", "utf8"), signal);
  } catch {
    return false;
  }
}
