/** Retry pacing shared by every reconnect loop. */

/**
 * Delay before retry `attempt` (0-based): `initialMs` doubling up to `maxMs`, then scaled by a
 * random factor in [0.5, 1) so that many clients or roles do not retry in lockstep.
 */
export function jitteredBackoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.round(Math.min(maxMs, initialMs * 2 ** attempt) * (0.5 + Math.random() / 2));
}
