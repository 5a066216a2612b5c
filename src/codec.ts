/**
 * The binary message codec used on every broker hop: a 3-byte prefix (magic, version, kind)
 * followed by a msgpackr payload. Decoding validates every field and column and throws
 * DecodeError("MESSAGE_MALFORMED") instead of crashing on bad bytes.
 */
import { Packr, RESERVE_START_SPACE, RESET_BUFFER_MODE } from "msgpackr";
import { msgpackBoundsProblem } from "./msgpackBounds.ts";
import { parseDate } from "./fields.ts";
import { packColumn } from "./textColumn.ts";
import { DecodeError } from "./errors.ts";
import { isEntity, isQueryName, type Entity, type QueryName } from "./schema.ts";
import { BODY_SCHEMAS, isBodyKind, validateBody, type BodyKind, type BodyOf } from "./bodies.ts";

const MAGIC = 0xcf;
// 2: transactions ids travel as a packed UTF-8 column, users' birthdates as yyyymmdd.
const VERSION = 2;
const KIND_CODES = { data: 1, eos: 2, purge: 3, result: 4, failed: 5, stateLost: 6 } as const;

// moreTypes: typed arrays travel as raw bytes; useRecords off: messages are self-describing.
const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * A batch of rows, identified by its lineage: (session, entity, seq) is the client batch it came
 * from, kept unchanged by every stage so completeness and dedup need no coordination.
 */
export interface DataMessage<K extends BodyKind = BodyKind> {
  kind: "data";
  session: string;
  entity: Entity;
  seq: number;
  bodyKind: K;
  body: BodyOf<K>;
}

/** End of an entity's stream for a session: `count` batches (seq 0..count-1) were sent. */
export interface EosMessage {
  kind: "eos";
  session: string;
  entity: Entity;
  count: number;
}

/** Drop everything about a session: it ended unfinished (client gone or aborted, a protocol error, a failure, a stall). */
export interface PurgeMessage {
  kind: "purge";
  session: string;
  reason: string;
}

/** One chunk of a query's result file; chunk 0 carries the header line. */
export interface ResultMessage {
  kind: "result";
  session: string;
  query: QueryName;
  chunk: number;
  last: boolean;
  csv: string;
}

/**
 * A stage could not process one of a session's messages (undecodable, or its operator threw):
 * retrying cannot help and going on would make the reports wrong, so the session fails. Sent to
 * the gateway (results queue), which ends the session with PIPELINE_FAILED and purges it.
 */
export interface FailedMessage {
  kind: "failed";
  session: string;
  reason: string;
}

/**
 * An aggregator found its write-ahead log unreadable (WAL_CORRUPT) and set it aside: every
 * session whose `query` result it had not yet published lost state there. Sent to the gateway
 * (results queue), which fails each running session still waiting for that result at once,
 * rather than after --result-timeout-s. The only kind that names no session.
 */
export interface StateLostMessage {
  kind: "stateLost";
  query: QueryName;
  reason: string;
}

/** Every message that travels through the broker. */
export type BrokerMessage = DataMessage | EosMessage | PurgeMessage | ResultMessage | FailedMessage | StateLostMessage;

/** The messages bound for the gateway (its results queue): never a stage's input. */
export type GatewayBoundMessage = ResultMessage | FailedMessage | StateLostMessage;

/** True for a message bound for the gateway, which a stage that receives it must drop. */
export function isGatewayBound(msg: BrokerMessage): msg is GatewayBoundMessage {
  return msg.kind === "result" || msg.kind === "failed" || msg.kind === "stateLost";
}

/** Encode a broker message. */
export function encodeMessage(msg: BrokerMessage): Uint8Array {
  let payload: unknown[];
  switch (msg.kind) {
    case "data": payload = [msg.session, msg.entity, msg.seq, msg.bodyKind, msg.body]; break;
    case "eos": payload = [msg.session, msg.entity, msg.count]; break;
    case "purge": payload = [msg.session, msg.reason]; break;
    case "result": payload = [msg.session, msg.query, msg.chunk, msg.last, msg.csv]; break;
    case "failed": payload = [msg.session, msg.reason]; break;
    case "stateLost": payload = [msg.query, msg.reason]; break;
  }
  // Packed into msgpackr's one shared buffer, rewound after each pack (RESET_BUFFER_MODE), then
  // copied out at its exact size behind the 3-byte prefix. Returning a view instead would save the
  // copy but pin the shared buffer, which msgpackr sizes at 4× the largest message and replaces
  // once full: a gateway holding unconfirmed publishes of five clients kept tens of MB of such
  // buffers alive (bench/README.md). The copy is ~0.1 ms per MB.
  const packed = packr.pack(payload, RESET_BUFFER_MODE | RESERVE_START_SPACE | 3);
  packed[0] = MAGIC;
  packed[1] = VERSION;
  packed[2] = KIND_CODES[msg.kind];
  const out = Buffer.allocUnsafe(packed.length);
  out.set(packed);
  return out;
}

function fail(why: string): never {
  throw new DecodeError("MESSAGE_MALFORMED", `malformed broker message: ${why}`);
}

function isSeq(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function isSessionId(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= 64;
}

/**
 * A version-1 body in today's shape: transactions ids were an array of strings, users'
 * birthdates strings (empty = unknown). Anything else passes unchanged to validation.
 */
function upgradeBodyV1(kind: unknown, body: unknown): unknown {
  if (typeof body !== "object" || body === null) return body;
  const b = body as Record<string, unknown>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (kind === "transactions" && strings(b.id)) return { ...b, id: packColumn(b.id) };
  if (kind === "users" && strings(b.birthdate)) {
    const { birthdate, ...rest } = b;
    const dates = birthdate.map((d) => (d === "" ? 0 : parseDate(d)));
    if (dates.some((d) => Number.isNaN(d))) fail("users body: a version-1 birthdate is not a date");
    return { ...rest, birth: Int32Array.from(dates) };
  }
  return body;
}

/** Decode and validate a broker message (this version's, or version 1's upgraded on the way). */
export function decodeMessage(bytes: Uint8Array): BrokerMessage {
  if (bytes.length < 4) fail(`${bytes.length} bytes is too short`);
  if (bytes[0] !== MAGIC) fail(`bad magic byte 0x${(bytes[0] ?? 0).toString(16)}`);
  if (bytes[1] !== VERSION && bytes[1] !== 1) fail(`unsupported version ${bytes[1]} (this build reads 1 and ${VERSION})`);
  let payload: unknown;
  const packed = bytes.subarray(3);
  // A message whose containers announce more than it holds would make msgpackr allocate that much.
  const unsafe = msgpackBoundsProblem(packed);
  if (unsafe !== null) fail(`msgpack: ${unsafe}`);
  try {
    payload = packr.unpack(packed);
  } catch (err) {
    fail(`msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(payload)) fail("payload is not an array");
  const p = payload as unknown[];
  switch (bytes[2]) {
    case KIND_CODES.data: {
      const [session, entity, seq, bodyKind, raw] = p;
      // Version 1 (still in WALs and queues written before an upgrade) had other column shapes.
      const body = bytes[1] === 1 ? upgradeBodyV1(bodyKind, raw) : raw;
      if (p.length !== 5 || !isSessionId(session) || !isEntity(entity) || !isSeq(seq) || !isBodyKind(bodyKind)) fail("bad data header");
      const why = validateBody(BODY_SCHEMAS[bodyKind], body);
      if (why) fail(`${bodyKind} body: ${why}`);
      return { kind: "data", session, entity, seq, bodyKind, body: body as BodyOf<typeof bodyKind> };
    }
    case KIND_CODES.eos: {
      const [session, entity, count] = p;
      if (p.length !== 3 || !isSessionId(session) || !isEntity(entity) || !isSeq(count)) fail("bad eos");
      return { kind: "eos", session, entity, count };
    }
    case KIND_CODES.purge: {
      const [session, reason] = p;
      if (p.length !== 2 || !isSessionId(session) || typeof reason !== "string") fail("bad purge");
      return { kind: "purge", session, reason };
    }
    case KIND_CODES.result: {
      const [session, query, chunk, last, csv] = p;
      if (p.length !== 5 || !isSessionId(session) || !isQueryName(query) || !isSeq(chunk) || typeof last !== "boolean" || typeof csv !== "string") fail("bad result");
      return { kind: "result", session, query, chunk, last, csv };
    }
    case KIND_CODES.failed: {
      const [session, reason] = p;
      if (p.length !== 2 || !isSessionId(session) || typeof reason !== "string") fail("bad failed");
      return { kind: "failed", session, reason };
    }
    case KIND_CODES.stateLost: {
      const [query, reason] = p;
      if (p.length !== 2 || !isQueryName(query) || typeof reason !== "string") fail("bad stateLost");
      return { kind: "stateLost", query, reason };
    }
    default:
      fail(`unknown kind ${bytes[2]}`);
  }
}

/**
 * The session a message that does not decode belongs to, when its envelope still says: every
 * kind's payload is an array whose first element is the session id (a stateLost's is its query
 * name, which no running session has as its id), so the id is read from the first bytes by hand
 * (msgpackr refuses a truncated or damaged message whole). The session can then be failed rather
 * than left waiting for a batch that will never come. Null when even that is unreadable.
 */
export function sessionOfUndecodable(bytes: Uint8Array): string | null {
  if (bytes.length < 5 || bytes[0] !== MAGIC) return null;
  let at = 3;
  const arrayHeader = bytes[at]!;
  if (arrayHeader >= 0x90 && arrayHeader <= 0x9f) at += 1; // fixarray
  else if (arrayHeader === 0xdc) at += 3; // array 16
  else if (arrayHeader === 0xdd) at += 5; // array 32
  else return null;
  const strHeader = bytes[at];
  let length: number;
  if (strHeader === undefined) return null;
  if (strHeader >= 0xa0 && strHeader <= 0xbf) { length = strHeader - 0xa0; at += 1; } // fixstr
  else if (strHeader === 0xd9 && at + 1 < bytes.length) { length = bytes[at + 1]!; at += 2; } // str 8
  else return null;
  if (at + length > bytes.length) return null;
  const session = Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString("utf8");
  return isSessionId(session) && !session.includes("\uFFFD") ? session : null;
}
