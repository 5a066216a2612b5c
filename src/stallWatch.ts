/**
 * The gateway's watch for stalled pipelines. Clients wait for as long as heartbeats come, so the
 * gateway is the one to give up on a session whose upload is over and whose pipeline stored no
 * result chunk for a while: a stage lost its data (a misrouted message) or is stuck. A session
 * with every result stored never stalls: what is left is their delivery, which the result pump's
 * and the TTL's deadlines watch.
 */
import { allResultsComplete, uploadConfirmed, type Session } from "./gatewaySession.ts";
import type { StoredChunk } from "./gatewayStore.ts";

/** True when `s` has its upload confirmed and not every result stored: what its stall deadline watches. */
export function awaitsResults(s: Pick<Session, "eosConfirmed">, chunks: readonly StoredChunk[]): boolean {
  return uploadConfirmed(s) && !allResultsComplete(chunks);
}

/**
 * True when `s` has stored no new chunk for `timeoutMs` since its upload was over; otherwise
 * notes how many chunks it has and since when. Looked at on a timer, so a stall is seen up to
 * one tick after the session's last end-of-stream and one tick after the timeout. While
 * `brokerHeld` (the broker took no publish for a tick: src/publishProbe.ts) no stage can publish a
 * result, so the deadline does not run: it starts afresh once the broker takes publishes again.
 */
export function isStalled(s: Pick<Session, "eosConfirmed" | "progress">, chunks: readonly StoredChunk[], nowMs: number, timeoutMs: number, brokerHeld = false): boolean {
  if (!awaitsResults(s, chunks)) return false;
  if (brokerHeld || chunks.length !== s.progress.mark) {
    s.progress = { mark: chunks.length, sinceMs: nowMs };
    return false;
  }
  return nowMs - s.progress.sinceMs >= timeoutMs;
}
