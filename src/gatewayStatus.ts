/**
 * What the gateway's health reply says about its open sessions and the broker's queues, and how
 * readers (`coffee status`, the dashboard) get it back out of an untyped reply.
 */
import { errorMessage } from "./errors.ts";
import { ENTITIES, QUERIES, isEntity, type Entity, type QueryName } from "./schema.ts";
import type { QueueDepth, Transport } from "./transport.ts";

/** Sessions listed at most in one health reply: the reply is one UDP datagram and must stay small. */
export const MAX_LISTED_SESSIONS = 20;
/** Characters of a session id shown: enough to tell sessions apart and to find them in the logs. */
export const SESSION_ID_CHARS = 8;
/** How often the gateway asks the broker for queue depths for its status. */
export const QUEUE_POLL_MS = 2000;
/** How often while a session uploads: the backlog gate (--max-backlog) reads them. */
export const BACKLOG_POLL_MS = 250;

/** Result chunks of one query of a session. */
export type QueryProgress = {
  /** Chunks received from the aggregator and kept in the gateway's log. */
  stored: number;
  /** Chunks written to the client's connection (again after a resume). */
  delivered: number;
  /** Every chunk up to the last one is stored. */
  complete: boolean;
};

/** One open session as the gateway reports it. */
export type SessionProgress = {
  /** The first SESSION_ID_CHARS characters of the session id. */
  id: string;
  /** False while the client is away (it may still resume). */
  connected: boolean;
  /** Rows of client batches the broker confirmed (and the gateway acknowledged), per entity. */
  rows: Record<Entity, number>;
  /** Entities whose end-of-stream the broker confirmed: their upload is complete. */
  eos: Entity[];
  results: Record<QueryName, QueryProgress>;
  /** Seconds since this gateway took the session on, and since it last moved (absent from older gateways). */
  ageS?: number;
  stillS?: number;
  /** Recovered from the gateway's log at its last start: its rows and age count from then (present only when true). */
  recovered?: true;
};

/** What the gateway knows about a session, for describeSession. */
export interface SessionFacts {
  id: string;
  connected: boolean;
  rowsAcked: ReadonlyMap<Entity, number>;
  eosConfirmed: ReadonlySet<Entity>;
  chunks: readonly { query: QueryName; chunk: number; last: boolean }[];
  delivered: ReadonlyMap<QueryName, number>;
  openedAtMs: number;
  movedAtMs: number;
  recovered: boolean;
}

/** A session's progress, in the shape of the gateway's health reply, its ages as at `nowMs`. */
export function describeSession(f: SessionFacts, nowMs = performance.now()): SessionProgress {
  const results = {} as Record<QueryName, QueryProgress>;
  for (const q of QUERIES) {
    const mine = f.chunks.filter((c) => c.query === q);
    const last = mine.find((c) => c.last);
    results[q] = { stored: mine.length, delivered: f.delivered.get(q) ?? 0, complete: last !== undefined && mine.length === last.chunk + 1 };
  }
  const rows = {} as Record<Entity, number>;
  for (const e of ENTITIES) rows[e] = f.rowsAcked.get(e) ?? 0;
  const seconds = (sinceMs: number): number => Math.max(0, Math.round((nowMs - sinceMs) / 1000));
  return { id: f.id.slice(0, SESSION_ID_CHARS), connected: f.connected, rows, eos: ENTITIES.filter((e) => f.eosConfirmed.has(e)), results, ageS: seconds(f.openedAtMs), stillS: seconds(f.movedAtMs), ...(f.recovered ? { recovered: true as const } : {}) };
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The sessions of a gateway's health status (an empty list when it reports none). */
export function sessionsFrom(status: Record<string, unknown>): SessionProgress[] {
  const list = status.openSessions;
  if (!Array.isArray(list)) return [];
  return list.map((raw): SessionProgress => {
    const s = obj(raw);
    const rows = {} as Record<Entity, number>;
    for (const e of ENTITIES) rows[e] = num(obj(s.rows)[e]);
    const results = {} as Record<QueryName, QueryProgress>;
    for (const q of QUERIES) {
      const r = obj(obj(s.results)[q]);
      results[q] = { stored: num(r.stored), delivered: num(r.delivered), complete: r.complete === true };
    }
    const ageS = s.ageS;
    const stillS = s.stillS;
    return {
      id: String(s.id ?? "?"), connected: s.connected === true, rows, eos: Array.isArray(s.eos) ? s.eos.filter(isEntity) : [], results,
      // Absent from a gateway older than these fields.
      ...(typeof ageS === "number" && Number.isFinite(ageS) ? { ageS } : {}),
      ...(typeof stillS === "number" && Number.isFinite(stillS) ? { stillS } : {}),
      ...(s.recovered === true ? { recovered: true as const } : {}),
    };
  });
}

/**
 * What holds uploads back, from a gateway's health status: the deepest pipeline queue at its last
 * poll, the publishes since that it counts on top, and its bound (the last two absent from a
 * gateway older than them); null while nothing does (or it cannot tell).
 */
export function backlogHoldFrom(status: Record<string, unknown>): { queue: string; messages: number; unpolled?: number; bound?: number } | null {
  const backlog = obj(status.backlog);
  if (backlog.held !== true) return null;
  const deepest = obj(backlog.deepest);
  const counted = typeof backlog.unpolled === "number" && typeof backlog.bound === "number" ? { unpolled: backlog.unpolled, bound: backlog.bound } : {};
  return { queue: String(deepest.queue ?? "?"), messages: num(deepest.messages), ...counted };
}

/** The queue depths of a gateway's health status; null when it has none (broker unreachable). */
export function queuesFrom(status: Record<string, unknown>): QueueDepth[] | null {
  if (!Array.isArray(status.queues)) return null;
  return status.queues.map((raw) => { const q = obj(raw); return { queue: String(q.queue ?? "?"), messages: num(q.messages), consumers: num(q.consumers) }; });
}

/** Queue depths kept fresh in the background. */
export interface QueuePoller {
  /** The last depths read; null before the first answer and while the broker does not answer. */
  latest(): QueueDepth[] | null;
  /** Poll now (once the poll under way, if any, is over) instead of at the next interval. */
  pollNow(): void;
  stop(): void;
}

/** Faster polls while `fastWhile()` holds, and who is told as each poll starts. */
export interface PollerOptions {
  fastMs: number;
  fastWhile: () => boolean;
  onPollStart: () => void;
}

/**
 * Ask the transport for queue depths every `intervalMs` (at once, too), and every `fast.fastMs`
 * while `fast.fastWhile()` holds. A failed poll clears the depths (stale numbers during an outage
 * would mislead) and is reported once per failure streak; the transport already logs the outage
 * itself. `onPolled` runs after every poll, answered or not; one poll runs at a time.
 */
export function startQueuePoller(
  transport: Transport,
  intervalMs: number,
  onError: (message: string) => void,
  onPolled: () => void = () => {},
  fast: PollerOptions | null = null,
): QueuePoller {
  let latest: QueueDepth[] | null = null;
  let busy = false;
  let again = false;
  let failing = false;
  let lastStartMs = -Infinity;
  const poll = async (): Promise<void> => {
    if (!transport.queueDepths) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    lastStartMs = performance.now();
    fast?.onPollStart();
    try {
      latest = await transport.queueDepths();
      failing = false;
    } catch (err) {
      latest = null;
      if (!failing) onError(`queue depths unavailable: ${errorMessage(err)}`);
      failing = true;
    } finally {
      busy = false;
      onPolled();
    }
    if (again) {
      again = false;
      void poll();
    }
  };
  void poll();
  const tick = (): void => {
    if (fast?.fastWhile() || performance.now() - lastStartMs >= intervalMs - 1) void poll();
  };
  const timer = setInterval(tick, fast ? Math.min(fast.fastMs, intervalMs) : intervalMs);
  // Status only: never the reason a process stays alive.
  timer.unref();
  return { latest: () => latest, pollNow: () => void poll(), stop: () => clearInterval(timer) };
}
