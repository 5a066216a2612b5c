/**
 * Whether this process started with a signal ignored, as `nohup` starts its command with SIGHUP
 * ignored. Installing a handler would undo that choice of the user's, so callers skip such
 * signals. Read from /proc/self/status (Linux); elsewhere nothing is known to be ignored.
 */
import { readFileSync } from "node:fs";

/** Signal numbers, as /proc's masks count them (bit n-1 for signal n). */
const NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** True when `signal`'s bit is set in `status`'s SigIgn mask (the text of /proc/<pid>/status). */
export function ignoredIn(status: string, signal: keyof typeof NUMBERS): boolean {
  const mask = /^SigIgn:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (mask === undefined) return false;
  return (BigInt(`0x${mask}`) >> BigInt(NUMBERS[signal] - 1)) & 1n ? true : false;
}

/** True when this process was started with `signal` ignored; call before handling it. */
export function startedIgnoring(signal: keyof typeof NUMBERS): boolean {
  try {
    return ignoredIn(readFileSync("/proc/self/status", "utf8"), signal);
  } catch {
    return false;
  }
}
