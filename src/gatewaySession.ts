/**
 * A client session as the gateway holds it while it runs, and the connection it currently comes
 * through. The durable part (which sessions exist, their result chunks) is in src/gatewayStore.ts;
 * this is what a restart rebuilds or forgets: sequence numbers, in-flight counts, timers.
 */
import type { Socket } from "bun";
import type { ErrorCode } from "./errors.ts";
import type { FrameDecoder } from "./frame.ts";
import type { StoredChunk } from "./gatewayStore.ts";
import type { ResultPump } from "./resultPump.ts";
import { ENTITIES, QUERIES, type Entity, type QueryName } from "./schema.ts";
import type { SocketWriter } from "./socketWriter.ts";

/**
 * The gateway's metric label: `stage` like the workers' and aggregators', so one query sums rows
 * along the pipeline. Shared by the gateway's modules (connections, upload, results).
 */
export const GATEWAY_STAGE = { stage: "gateway" } as const;

/**
 * Why the gateway purged a session, as its purge metric's `cause` label: the code of the error
 * that ended it, or one of the ends that are not an error. A closed set, so the label's values stay few.
 */
export type PurgeCause = ErrorCode | "LEFT_BEFORE_WELCOME" | "ABORTED" | "TTL_EXPIRED";

/** The causes most purges have, counted from 0 at start so a rate over the first one is not missed. */
export const COMMON_PURGE_CAUSES: readonly PurgeCause[] = ["CLIENT_IDLE", "PIPELINE_STALLED", "PIPELINE_FAILED", "TTL_EXPIRED", "ABORTED", "LEFT_BEFORE_WELCOME"];

/** One client TCP connection. */
export interface Connection {
  socket: Socket<Connection>;
  decoder: FrameDecoder;
  writer: SocketWriter;
  session: Session | null;
  closed: boolean;
  /** Handshake, then idle-while-uploading deadline. */
  timer: ReturnType<typeof setTimeout> | null;
  /** True while the gateway does not read it (src/uploadPublisher.ts syncReading). */
  readPaused: boolean;
}

/** One client session: its upload's progress and its results on their way back. */
export interface Session {
  id: string;
  /** The client's current connection; null while it is away (it may resume until the TTL). */
  conn: Connection | null;
  nextSeq: Map<Entity, number>;
  /** End-of-stream counts received, and those confirmed by the broker (and acked). */
  eosCount: Map<Entity, number>;
  eosConfirmed: Set<Entity>;
  /** Client batches and end-of-stream markers published but not yet confirmed by the broker. */
  inFlight: number;
  /** `entity#seq` of new client batches (not resends) no copy of which is confirmed yet: the --max-in-flight limit. */
  unacked: Set<string>;
  /**
   * Per entity, one past the highest batch this gateway has read, new or resent. Batches arrive
   * in order and a resume resends, in order, every one not acknowledged, so each batch below it
   * was read (and its rows counted) once; a resend at or above it was lost on the way, however
   * many resumes it took.
   */
  readBelow: Map<Entity, number>;
  /** Resends of lost batches whose rows are counted in but not yet out (at their confirm). */
  uncounted: Set<string>;
  /** Resumed, and the client has not yet said it sent everything unacknowledged again. */
  awaitingResend: boolean;
  /** Result chunks on their way to the client, the ones waiting read back from the spool. */
  results: ResultPump;
  /** Progress for status pages: rows acknowledged per entity, result chunks written per query. */
  rowsAcked: Map<Entity, number>;
  delivered: Map<QueryName, number>;
  done: boolean;
  /**
   * Its client may know its id: the welcome was written to it, or the log remembered the session
   * across a restart (whether the welcome left before the crash is unknown). A session no client
   * can know of has nobody to resume it.
   */
  welcomed: boolean;
  ttlTimer: ReturnType<typeof setTimeout> | null;
  /**
   * Once the upload is over: result chunks stored (`mark`, -1 before the first look) and since
   * when that count has not moved, to tell a pipeline that lost the session from a slow one.
   */
  progress: { mark: number; sinceMs: number };
  /** When this gateway took the session on (performance.now(): started, or recovered from its log; a step of the wall clock must not age it). */
  openedAtMs: number;
  /** Recovered from the log at a start: its progress counts (rows acknowledged, age) begin then, not at its upload's start. */
  recovered: boolean;
  /** When it last moved: a batch or an end of stream confirmed, a result chunk stored or written to its client (performance.now()). */
  movedAtMs: number;
}

/** A session with nothing received yet and no client attached. */
export function newSession(id: string, results: ResultPump): Session {
  const now = performance.now();
  return { id, conn: null, nextSeq: new Map(), eosCount: new Map(), eosConfirmed: new Set(), inFlight: 0, unacked: new Set(), readBelow: new Map(), uncounted: new Set(), awaitingResend: false, results, rowsAcked: new Map(), delivered: new Map(), done: false, welcomed: false, ttlTimer: null, progress: { mark: -1, sinceMs: 0 }, openedAtMs: now, movedAtMs: now, recovered: false };
}

/** True once the client has sent every entity's end-of-stream (confirmed or not). */
export function uploadOver(s: Session): boolean {
  return ENTITIES.every((e) => s.eosCount.has(e));
}

/** True once the broker confirmed every entity's end-of-stream: the whole upload is in. */
export function uploadConfirmed(s: Pick<Session, "eosConfirmed">): boolean {
  return ENTITIES.every((e) => s.eosConfirmed.has(e));
}

/** True when `chunks` hold every query's chunks 0..last, the last one included. */
export function allResultsComplete(chunks: readonly Pick<StoredChunk, "query" | "chunk" | "last">[]): boolean {
  return QUERIES.every((q) => queryResultComplete(chunks, q));
}

/** True when `chunks` hold query `q`'s chunks 0..last, the last one included. */
export function queryResultComplete(chunks: readonly Pick<StoredChunk, "query" | "chunk" | "last">[], q: QueryName): boolean {
  const mine = chunks.filter((c) => c.query === q);
  const last = mine.find((c) => c.last);
  return last !== undefined && mine.length === last.chunk + 1;
}
