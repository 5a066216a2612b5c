/**
 * Messages between client and gateway (inside TCP frames), msgpack-encoded and validated on
 * decode: a malformed message is a DecodeError, which ends only that connection.
 */
import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import { DecodeError, type ErrorCode } from "./errors.ts";
import { ENTITY_COLUMNS, isEntity, isQueryName, type Entity, type QueryName } from "./schema.ts";
import { columnProblem, type TextColumn } from "./textColumn.ts";
import { msgpackBoundsProblem } from "./msgpackBounds.ts";
import { RESUME_KEY } from "./resumeKey.ts";

/**
 * Protocol version, checked in the handshake. 4: nothing new between a resume and its `resent`.
 * 5: the client says `bye` once its result files are committed; until then a finished session
 * can be resumed and its results sent again. 6: the gateway sends `heartbeat` while a session is
 * open, at the interval its welcome names, so silence means a lost gateway, not a slow pipeline.
 * A heartbeat's optional `brokerHeld`, an ack's optional `reasons`, the resume key (`keyed`,
 * `key`, src/resumeKey.ts) and a welcome's `maxBatchRows` came later within 6: a peer of 6 that
 * does not know them ignores them, as decoders ignore fields they do not read.
 */
export const PROTOCOL_VERSION = 6;

/** The longest heartbeat interval a gateway may name (a client waits three of them: within any timer's range). */
export const MAX_HEARTBEAT_MS = 600_000;

/**
 * Client → gateway. `resume` re-attaches a session after its connection was lost; after its
 * welcome the client sends every batch and end-of-stream it saw no ack for, then `resent`, and
 * only then new batches.
 */
export type ClientMessage =
  /** `keyed`: the client keeps the resume key its welcome names and sends it in every resume (src/resumeKey.ts). */
  | { t: "hello"; v: number; token?: string; keyed?: true }
  /** `key`: the session's resume key, when its welcome named one. */
  | { t: "resume"; v: number; session: string; sent: Partial<Record<Entity, number>>; eos: Entity[]; token?: string; key?: string }
  /** After a resume: every unacknowledged batch and end-of-stream has been sent again. */
  | { t: "resent" }
  /** Rows as packed UTF-8 columns (src/textColumn.ts), one per needed column, in ENTITY_COLUMNS order. */
  | { t: "batch"; entity: Entity; seq: number; lines: Uint32Array; columns: TextColumn[] }
  | { t: "eos"; entity: Entity; count: number }
  /** After `done`: the result files are committed, the gateway may forget the session. */
  | { t: "bye" }
  /**
   * The client gives the session up (interrupted, or failed on its side) and will not resume it:
   * the gateway drops it now instead of holding its --max-sessions slot for the TTL. A gateway
   * that predates it ends the connection for an unknown message, which drops the session too.
   */
  | { t: "abort" };

/** Rows of a batch the gateway rejected, by their line numbers in the client's file. */
export type RejectedLines = number[];

/** Gateway → client. */
export type GatewayMessage =
  /**
   * `heartbeatMs`: the interval of this gateway's heartbeats, so the client knows how much silence
   * means it is gone. `key`: the session's resume key, in a new session's welcome to a client that
   * said `keyed` (a gateway that predates keys names none, and its client resumes without).
   * `maxBatchRows`: the most rows a batch may hold here (a gateway that predates it names none).
   */
  | { t: "welcome"; session: string; maxInFlight: number; resumed: boolean; heartbeatMs: number; key?: string; maxBatchRows?: number }
  /**
   * The session is open and this gateway alive, though it has nothing else to say (the pipeline is
   * computing). `brokerHeld`: the broker takes no publishes (a resource alarm, no quorum, or it is down), so
   * nothing moves until it does (sent only when true; older clients ignore it).
   */
  | { t: "heartbeat"; brokerHeld?: true }
  /**
   * `reasons[i]`: why the row at `rejected[i]` was rejected (a gateway that predates reasons
   * sends none; an older client ignores them).
   */
  | { t: "ack"; entity: Entity; seq: number; rejected: RejectedLines; reasons?: string[] }
  | { t: "eos-ack"; entity: Entity }
  | { t: "result"; query: QueryName; chunk: number; last: boolean; csv: string }
  | { t: "done" }
  | { t: "error"; code: ErrorCode; message: string };

const packr = new Packr({ useRecords: false, moreTypes: true });

/** A short rendering of a value a peer sent, for an error message; never throws (JSON.stringify does on a BigInt). */
function shown(v: unknown): string {
  try {
    return (JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v)).slice(0, 80);
  } catch {
    return typeof v;
  }
}

/** Encode any protocol message (either direction). */
export function encodeProtocol(msg: ClientMessage | GatewayMessage): Uint8Array {
  return packr.pack(msg);
}

/**
 * Encode into the encoder's own buffer, valid only until the next encode: for bytes handed
 * straight to a socket (src/frame.ts writeFrame). msgpackr otherwise writes each message after
 * the last one and moves to a new, larger buffer when it runs out, which for megabyte batches
 * was a fresh allocation and a copy every few messages.
 */
export function encodeProtocolTransient(msg: ClientMessage | GatewayMessage): Uint8Array {
  return packr.pack(msg, RESET_BUFFER_MODE);
}

/**
 * Most msgpack values in one client frame, map keys included: a batch of five columns has 36
 * (src/msgpackBounds.ts says why bytes alone do not bound what a frame costs).
 */
export const MAX_CLIENT_FRAME_VALUES = 1024;

function unpack(bytes: Uint8Array, maxValues = Infinity): Record<string, unknown> {
  // Before msgpackr, which allocates whatever length a container announces (src/msgpackBounds.ts).
  const unsafe = msgpackBoundsProblem(bytes, maxValues);
  if (unsafe !== null) throw new DecodeError("FRAME_MALFORMED", `frame is not valid msgpack: ${unsafe}`);
  let v: unknown;
  try {
    v = packr.unpack(bytes);
  } catch (err) {
    throw new DecodeError("FRAME_MALFORMED", `frame is not valid msgpack: ${(err as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new DecodeError("FRAME_MALFORMED", "frame is not a message object");
  return v as Record<string, unknown>;
}

/** What a session id may look like on the wire: the gateway's are UUIDs. */
const SESSION_ID = /^[\w-]{1,64}$/;

function bad(why: string): never {
  throw new DecodeError("FRAME_MALFORMED", why);
}

const isUint = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** Decode and validate a message sent by a client. */
export function decodeClientMessage(bytes: Uint8Array): ClientMessage {
  const m = unpack(bytes, MAX_CLIENT_FRAME_VALUES);
  switch (m.t) {
    case "hello":
      if (!isUint(m.v)) bad("hello without a protocol version");
      if (m.token !== undefined && (typeof m.token !== "string" || m.token.length > 1024)) bad("hello token must be a string");
      return { t: "hello", v: m.v, ...(typeof m.token === "string" ? { token: m.token } : {}), ...(m.keyed === true ? { keyed: true as const } : {}) };
    case "resume": {
      // Ids are the gateway's UUIDs: anything else (a newline, an escape) is no id, and must not
      // reach the SESSION_UNKNOWN reply or the log line that quotes it.
      if (!isUint(m.v) || typeof m.session !== "string" || !SESSION_ID.test(m.session)) bad("resume needs a version and a session id (letters, digits, - and _, at most 64)");
      const sent = m.sent;
      if (typeof sent !== "object" || sent === null || Array.isArray(sent)) bad("resume needs sent counts");
      const counts: Partial<Record<Entity, number>> = {};
      for (const [k, v] of Object.entries(sent as Record<string, unknown>)) {
        if (!isEntity(k) || !isUint(v)) bad("resume sent counts must map entities to counts");
        counts[k] = v;
      }
      if (!Array.isArray(m.eos) || !m.eos.every(isEntity)) bad("resume eos must list entities");
      if (m.token !== undefined && (typeof m.token !== "string" || m.token.length > 1024)) bad("resume token must be a string");
      if (m.key !== undefined && (typeof m.key !== "string" || !RESUME_KEY.test(m.key))) bad("resume key must be the welcome's");
      return { t: "resume", v: m.v, session: m.session, sent: counts, eos: m.eos as Entity[], ...(typeof m.token === "string" ? { token: m.token } : {}), ...(typeof m.key === "string" ? { key: m.key } : {}) };
    }
    case "resent":
      return { t: "resent" };
    case "bye":
      return { t: "bye" };
    case "abort":
      return { t: "abort" };
    case "eos":
      if (!isEntity(m.entity) || !isUint(m.count)) bad("eos needs entity and count");
      return { t: "eos", entity: m.entity, count: m.count };
    case "batch": {
      if (!isEntity(m.entity) || !isUint(m.seq)) bad("batch needs entity and seq");
      if (!(m.lines instanceof Uint32Array)) bad("batch lines must be a Uint32Array");
      const rows = m.lines.length;
      const cols = m.columns;
      const want = ENTITY_COLUMNS[m.entity].length;
      if (!Array.isArray(cols) || cols.length !== want) bad(`batch of ${m.entity} needs ${want} columns`);
      for (const c of cols) {
        const problem = columnProblem(c, rows);
        if (problem) bad(problem);
      }
      return { t: "batch", entity: m.entity, seq: m.seq, lines: m.lines, columns: cols as TextColumn[] };
    }
    default:
      bad(`unknown client message type ${shown(m.t)}`);
  }
}

/** Decode and validate a message sent by the gateway. */
export function decodeGatewayMessage(bytes: Uint8Array): GatewayMessage {
  const m = unpack(bytes);
  switch (m.t) {
    case "welcome":
      // The id names the client's results folder: a gateway's `../x` must not write elsewhere.
      if (typeof m.session !== "string" || !SESSION_ID.test(m.session) || !isUint(m.maxInFlight) || m.maxInFlight < 1 || typeof m.resumed !== "boolean" || !isUint(m.heartbeatMs) || m.heartbeatMs < 1 || m.heartbeatMs > MAX_HEARTBEAT_MS) {
        bad("welcome needs session, maxInFlight, resumed and heartbeatMs");
      }
      if (m.key !== undefined && (typeof m.key !== "string" || !RESUME_KEY.test(m.key))) bad("welcome key must be a resume key");
      if (m.maxBatchRows !== undefined && (!isUint(m.maxBatchRows) || m.maxBatchRows < 1)) bad("welcome maxBatchRows must be a positive count");
      return {
        t: "welcome", session: m.session, maxInFlight: m.maxInFlight, resumed: m.resumed, heartbeatMs: m.heartbeatMs,
        ...(typeof m.key === "string" ? { key: m.key } : {}), ...(isUint(m.maxBatchRows) ? { maxBatchRows: m.maxBatchRows } : {}),
      };
    case "heartbeat":
      return m.brokerHeld === true ? { t: "heartbeat", brokerHeld: true } : { t: "heartbeat" };
    case "eos-ack":
      if (!isEntity(m.entity)) bad("eos-ack needs an entity");
      return { t: "eos-ack", entity: m.entity };
    case "ack":
      if (!isEntity(m.entity) || !isUint(m.seq) || !Array.isArray(m.rejected) || !m.rejected.every(isUint)) bad("bad ack");
      // Reasons only explain: ones that do not pair up with the lines are dropped, not fatal.
      if (!Array.isArray(m.reasons) || m.reasons.length !== m.rejected.length || !m.reasons.every((r: unknown) => typeof r === "string")) {
        return { t: "ack", entity: m.entity, seq: m.seq, rejected: m.rejected };
      }
      return { t: "ack", entity: m.entity, seq: m.seq, rejected: m.rejected, reasons: m.reasons };
    case "result":
      if (!isQueryName(m.query) || !isUint(m.chunk) || typeof m.last !== "boolean" || typeof m.csv !== "string") bad("bad result");
      return { t: "result", query: m.query, chunk: m.chunk, last: m.last, csv: m.csv };
    case "done":
      return { t: "done" };
    case "error":
      if (typeof m.code !== "string" || typeof m.message !== "string") bad("bad error");
      return { t: "error", code: m.code as ErrorCode, message: m.message };
    default:
      bad(`unknown gateway message type ${shown(m.t)}`);
  }
}
