/**
 * The process's limit on open files (`ulimit -n`, a container's `nofile`), so the gateway can
 * keep its client sockets within it: past it every open fails with EMFILE, the gateway's log and
 * result spool included, which stops the gateway (exit 70) rather than one client's connection,
 * and a listener whose accept fails retries it in a busy loop.
 */
import { readFileSync } from "node:fs";

/** Descriptors a gateway keeps for everything but client sockets and spool files: its logs, broker, health, metrics, runtime (about 13 in use when idle). */
export const RESERVED_DESCRIPTORS = 32;

/** The soft limit on open files from /proc/self/limits; null where it cannot be read (not Linux) or is unlimited. */
export function openFileLimit(read: () => string = () => readFileSync("/proc/self/limits", "utf8")): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m || m[1] === "unlimited") return null;
  return Number(m[1]);
}

/**
 * Result-spool files a session may hold open at once: one whose fsync is under way, and the
 * same file opened again for chunks appended meanwhile (src/resultSpool.ts).
 */
export const SPOOL_FILES_PER_SESSION = 2;

/**
 * Client sockets a gateway may hold open at once, refused ones included: the limit less the
 * reserve and the sessions' result-spool files. Infinity where the limit is unknown.
 */
export function clientSocketBudget(limit: number | null, maxSessions: number): number {
  if (limit === null) return Infinity;
  return Math.max(8, limit - RESERVED_DESCRIPTORS - SPOOL_FILES_PER_SESSION * maxSessions);
}

/**
 * The gateway's connection limits under `limit`: client sockets (clientSocketBudget), and
 * connections yet to say hello within those less the sessions' own, so that connections that
 * never say hello get an answered CONNECTION_LIMIT and cannot take the room sessions and
 * resumes need. `maxHandshakes` (the option) is kept where the limit allows it.
 */
export function socketLimits(limit: number | null, maxSessions: number, maxHandshakes: number): { maxSockets: number; maxHandshakes: number } {
  const maxSockets = clientSocketBudget(limit, maxSessions);
  return { maxSockets, maxHandshakes: Math.min(maxHandshakes, Math.max(1, maxSockets - maxSessions)) };
}
