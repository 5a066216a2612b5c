/**
 * A warning in the role's log when an fsync of its write-ahead log or result spool is
 * slow. Those fsyncs run off the event loop, so the process goes on answering its health checks
 * and /metrics, but every acknowledgement waits for the commit that holds it: storage at a few
 * hundred ms per fsync (a degraded cloud volume, NFS) slows every session down, with nothing
 * else to say why. This line names the cause where an operator looks.
 */
import type { Logger } from "./log.ts";
import { LogThrottle } from "./logThrottle.ts";

/** An fsync at least this long is reported. */
export const SLOW_FSYNC_S = 1;

/** How often at most the warning is logged (with how many came since the last line). */
const SLOW_FSYNC_LOG_MS = 60_000;

/** `observe` (metrics) and, for a slow fsync, a warning in `log` at most once a minute. */
export function warningOfSlowFsyncs<K extends string>(observe: (seconds: number, kind: K) => void, log: Pick<Logger, "warn">, throttle = new LogThrottle(SLOW_FSYNC_LOG_MS)): (seconds: number, kind: K) => void {
  let unsaid = 0;
  return (seconds, kind) => {
    observe(seconds, kind);
    if (seconds < SLOW_FSYNC_S) return;
    unsaid++;
    if (!throttle.due()) return;
    const more = unsaid > 1 ? ` (${unsaid} fsyncs of ${SLOW_FSYNC_S} s or more since the last such line)` : "";
    unsaid = 0;
    log.warn(`an fsync (${kind}) took ${seconds.toFixed(1)} s${more}: the disk is slow, and every acknowledgement waits for the commit that holds it, so sessions slow down with it (health checks are still answered)`);
  };
}
