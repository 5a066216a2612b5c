/**
 * Seeded protocol fuzzer for the gateway: opens many TCP connections and sends random, truncated,
 * oversized, header-bomb and type-confused frames, and valid messages in invalid orders or with
 * invalid contents, next to complete valid sessions. Connection `i` of seed `s` is generated from
 * its own stream `Rng(deriveSeed(s, i))`, so whatever the timing, `describeConnection(s, i)`
 * reproduces the exact bytes a failing connection sent.
 */
import { packColumn, type TextColumn } from "../src/textColumn.ts";
import type { Socket } from "bun";
import { Packr } from "msgpackr";
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { deriveSeed, randomUuid, Rng } from "../src/generator.ts";
import { decodeGatewayMessage, encodeProtocol, PROTOCOL_VERSION, type ClientMessage } from "../src/protocol.ts";
import { ENTITIES, ENTITY_COLUMNS, type Entity } from "../src/schema.ts";

/** The gateway's default frame limit (16 MiB); oversized prefixes are drawn above it. */
export const FUZZ_FRAME_LIMIT = 16 * 1024 * 1024;

/** What a fuzz connection is about. */
export const FUZZ_CATEGORIES = [
  "random-bytes",
  "truncated",
  "oversized",
  "header-bomb",
  "type-confused",
  "session-abuse",
  "bad-order",
  "valid-session",
] as const;
/** One of the fuzzer's connection categories. */
export type FuzzCategory = (typeof FUZZ_CATEGORIES)[number];

/** Relative weights of the categories (per connection). */
const CATEGORY_WEIGHTS: Readonly<Record<FuzzCategory, number>> = {
  "random-bytes": 12,
  truncated: 10,
  oversized: 8,
  "header-bomb": 6,
  "type-confused": 20,
  "session-abuse": 24,
  "bad-order": 10,
  "valid-session": 10,
};

/** One unit the fuzzer sends: a (possibly malformed) frame's bytes and what it is. */
export interface FuzzFrame {
  bytes: Uint8Array;
  /** Short human description, for reproducing a failure. */
  label: string;
}

/** Everything one fuzz connection does. */
export interface FuzzConnectionPlan {
  index: number;
  category: FuzzCategory;
  /** The variant within the category (e.g. "eos-wrong-count"). */
  variant: string;
  frames: FuzzFrame[];
  /** Number of pieces the concatenated bytes are written in (1 = one write; more exercises reassembly). */
  pieces: number;
  /** How long to wait for the gateway (replies, closing) after the last byte before closing ourselves. */
  lingerMs: number;
  /** Close the connection as soon as the gateway says `done` (valid sessions). */
  untilDone: boolean;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Packs arbitrary values (the gateway's own msgpack settings), for messages of the wrong shape. */
const packr = new Packr({ useRecords: false, moreTypes: true });

/** Set an own, enumerable property, even for keys like `__proto__` (plain assignment would set the prototype). */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

function pickCategory(rng: Rng): FuzzCategory {
  const total = FUZZ_CATEGORIES.reduce((n, c) => n + CATEGORY_WEIGHTS[c], 0);
  let x = rng.float() * total;
  for (const c of FUZZ_CATEGORIES) {
    x -= CATEGORY_WEIGHTS[c];
    if (x < 0) return c;
  }
  return "random-bytes";
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const w = rng.u32();
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (w >>> (8 * k)) & 0xff;
  }
  return out;
}

/** A size skewed towards small values, at most `max`. */
function smallSize(rng: Rng, max: number): number {
  const r = rng.float();
  return Math.min(max, Math.floor(r * r * r * (max + 1)));
}

function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A msgpack fixstr (ASCII, under 32 bytes). */
function fixstr(text: string): Uint8Array {
  return Uint8Array.of(0xa0 | text.length, ...new TextEncoder().encode(text));
}

function frameOf(payload: Uint8Array, label: string): FuzzFrame {
  return { bytes: encodeFrame(payload), label };
}

function message(msg: ClientMessage, label?: string): FuzzFrame {
  return frameOf(encodeProtocol(msg), label ?? msg.t);
}

/** A frame holding any value packed as msgpack (valid msgpack, usually not a valid message). */
function packed(value: unknown, label: string): FuzzFrame {
  return frameOf(packr.pack(value), label);
}

const hello = (): FuzzFrame => message({ t: "hello", v: PROTOCOL_VERSION });

const STRINGS = ["", " ", "0", "-1", "1e309", "NaN", "null", "hello", "batch", "eos", "\u0000", "\ud800", "\u{1f4a9}".repeat(3), "a".repeat(300), "2024-02-30", "99999999999999999999", "1.5", "__proto__", "constructor"];

function randomString(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return pick(rng, STRINGS);
    case 1:
      return String.fromCharCode(...Array.from({ length: smallSize(rng, 40) }, () => rng.int(0x10000)));
    case 2:
      return String(rng.int(2) === 0 ? rng.int(1000) : (rng.float() - 0.5) * 10 ** rng.int(30));
    default:
      return Array.from({ length: smallSize(rng, 30) }, () => String.fromCharCode(32 + rng.int(95))).join("");
  }
}

/** A random value of a random type, for type confusion. */
function junk(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 12 : 16)) {
    case 0: return rng.u32();
    case 1: return -1 - rng.int(2 ** 31);
    case 2: return pick(rng, [2 ** 32, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, -(2 ** 53), 2 ** 64, 1e308]);
    case 3: return pick(rng, [2n ** 63n + BigInt(rng.u32()), -(2n ** 63n), -1n, 2n ** 64n - 1n]);
    case 4: return pick(rng, [NaN, Infinity, -Infinity, -0, 0.5, rng.float() * 1e6, -rng.float()]);
    case 5: return randomString(rng);
    case 6: return rng.chance(0.5);
    case 7: return null;
    case 8: return new Date(rng.u32() * 1000);
    case 9: return randomBytes(rng, smallSize(rng, 64));
    case 10: return pick(rng, [...ENTITIES, "q1", "hello", "resume", "resent", "bye", "batch", "eos", "welcome", "done", "ack", "error"]);
    case 11: {
      const n = smallSize(rng, 8);
      switch (rng.int(4)) {
        case 0: return Int32Array.from({ length: n }, () => rng.u32() | 0);
        case 1: return Float64Array.from({ length: n }, () => rng.float() * 1e9);
        case 2: return Uint16Array.from({ length: n }, () => rng.int(65536));
        default: return Uint32Array.from({ length: n }, () => rng.u32());
      }
    }
    case 12:
    case 13: return Array.from({ length: smallSize(rng, 6) }, () => junk(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = smallSize(rng, 5); i > 0; i--) setOwn(o, rng.chance(0.5) ? pick(rng, ["t", "v", "entity", "seq", "lines", "columns", "count", "session", "sent", "eos"]) : randomString(rng), junk(rng, depth + 1));
      return o;
    }
  }
}

/** A plausible value for column `name` (valid most of the time). */
function cell(rng: Rng, name: string, validShare: number): string {
  if (!rng.chance(validShare)) return randomString(rng);
  switch (name) {
    case "transaction_id": return randomUuid(rng);
    case "store_id":
    case "item_id": return String(1 + rng.int(12));
    case "user_id": return rng.chance(0.1) ? "" : `${1 + rng.int(500)}.0`;
    case "final_amount":
    case "subtotal": return (rng.int(20000) / 100).toFixed(2);
    case "quantity": return String(1 + rng.int(5));
    case "created_at": return `2024-0${1 + rng.int(9)}-1${rng.int(10)} 1${rng.int(10)}:0${rng.int(10)}:00`;
    case "birthdate": return `19${50 + rng.int(50)}-0${1 + rng.int(9)}-2${rng.int(9)}`;
    default: return `Name ${rng.int(100)}, "quoted"`;
  }
}

/** A batch message with `rows` rows whose cells are valid with probability `validShare`. */
function batchMessage(rng: Rng, entity: Entity, seq: number, rows: number, validShare = 0.9): Extract<ClientMessage, { t: "batch" }> {
  const names = ENTITY_COLUMNS[entity];
  const first = 2 + rng.int(10_000);
  return {
    t: "batch", entity, seq,
    lines: Uint32Array.from({ length: rows }, (_, i) => first + i),
    columns: names.map((n) => packColumn(Array.from({ length: rows }, () => cell(rng, n, validShare)))),
  };
}

/** A few valid batches of one entity (seq 0..n-1), and their count. */
function validBatches(rng: Rng, entity: Entity, n: number): FuzzFrame[] {
  return Array.from({ length: n }, (_, seq) => message(batchMessage(rng, entity, seq, 1 + smallSize(rng, 40)), `batch ${entity}#${seq}`));
}

// ---------------------------------------------------------------------------------------------
// Categories

function randomBytesPlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [];
  const variant = pick(rng, ["framed", "unframed", "mixed"]);
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const framed = variant === "framed" || (variant === "mixed" && rng.chance(0.5));
    const body = randomBytes(rng, smallSize(rng, 4096));
    frames.push(framed ? frameOf(body, `random payload ${body.length} B`) : { bytes: body, label: `raw random ${body.length} B` });
  }
  return [variant, frames];
}

function truncatedPlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [];
  if (rng.chance(0.5)) {
    frames.push(hello());
    if (rng.chance(0.5)) frames.push(...validBatches(rng, pick(rng, ENTITIES), 1 + rng.int(3)));
  }
  const variant = pick(rng, ["short-body", "short-header", "valid-message-cut", "big-promise"]);
  switch (variant) {
    case "short-header":
      frames.push({ bytes: randomBytes(rng, 1 + rng.int(3)), label: "1-3 header bytes" });
      break;
    case "valid-message-cut": {
      const whole = message(batchMessage(rng, pick(rng, ENTITIES), 0, 1 + rng.int(20))).bytes;
      frames.push({ bytes: whole.subarray(0, 4 + rng.int(whole.length - 4)), label: "valid batch cut short" });
      break;
    }
    case "big-promise": {
      // Up to the limit itself: the gateway must not reserve memory it was only promised.
      const size = FUZZ_FRAME_LIMIT - rng.int(1024);
      frames.push({ bytes: concat(u32be(size), randomBytes(rng, smallSize(rng, 8192))), label: `prefix ${size}, few bytes` });
      break;
    }
    default: {
      const size = 1 + rng.int(100_000);
      const have = rng.int(Math.min(size, 8192));
      frames.push({ bytes: concat(u32be(size), randomBytes(rng, have)), label: `prefix ${size}, ${have} bytes` });
    }
  }
  return [variant, frames];
}

function oversizedPlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [];
  const variant = pick(rng, ["fresh", "after-hello", "after-batches"]);
  if (variant !== "fresh") frames.push(hello());
  if (variant === "after-batches") frames.push(...validBatches(rng, pick(rng, ENTITIES), 1 + rng.int(3)));
  const size = pick(rng, [FUZZ_FRAME_LIMIT + 1, 0xffffffff, 0x80000000, FUZZ_FRAME_LIMIT + 1 + rng.int(0xffffffff - FUZZ_FRAME_LIMIT - 1)]);
  frames.push({ bytes: concat(u32be(size), randomBytes(rng, smallSize(rng, 2048))), label: `prefix ${size}` });
  return [variant, frames];
}

/** msgpack whose headers promise more than there is, nest deeply, or use odd extensions. */
function headerBombPlan(rng: Rng): [string, FuzzFrame[]] {
  const variant = pick(rng, ["array32", "map32", "str32", "bin32", "ext32", "deep-array", "deep-map", "fixext", "typed-array-ext", "trailing-bytes"]);
  const frames: FuzzFrame[] = rng.chance(0.4) ? [hello()] : [];
  const huge = u32be(0xffff_ffff - rng.int(1000));
  let payload: Uint8Array;
  switch (variant) {
    case "array32": payload = concat(Uint8Array.of(0xdd), huge, randomBytes(rng, smallSize(rng, 64))); break;
    case "map32": payload = concat(Uint8Array.of(0xdf), huge, Uint8Array.of(0xa1, 0x74)); break;
    case "str32": payload = concat(Uint8Array.of(0x81, 0xa1, 0x74, 0xdb), huge, Uint8Array.of(0x41)); break;
    case "bin32": payload = concat(Uint8Array.of(0x81, 0xa1, 0x74, 0xc6), huge, Uint8Array.of(0x41)); break;
    case "ext32": payload = concat(Uint8Array.of(0xc9), huge, Uint8Array.of(rng.int(256))); break;
    case "deep-array": payload = new Uint8Array(1000 + rng.int(200_000)).fill(0x91); break;
    case "deep-map": {
      const depth = 1000 + rng.int(50_000);
      payload = new Uint8Array(depth * 3);
      for (let i = 0; i < depth; i++) payload.set([0x81, 0xa1, 0x74], i * 3);
      break;
    }
    case "fixext": payload = concat(Uint8Array.of(0xd8, rng.int(256)), randomBytes(rng, 16)); break;
    case "typed-array-ext": {
      // {t: "batch", entity: "stores", seq: 0, lines: <ext>, columns: [[], []]} where <ext> is a
      // typed-array extension (type 0x74) with a random element code and byte length.
      const n = rng.int(12);
      const lines = concat(Uint8Array.of(0xc7, n + 1, 0x74, rng.int(24)), randomBytes(rng, n));
      payload = concat(Uint8Array.of(0x85), fixstr("t"), fixstr("batch"), fixstr("entity"), fixstr("stores"), fixstr("seq"), Uint8Array.of(0x00),
        fixstr("lines"), lines, fixstr("columns"), Uint8Array.of(0x92, 0x90, 0x90));
      break;
    }
    default: payload = concat(encodeProtocol({ t: "hello", v: PROTOCOL_VERSION }), randomBytes(rng, 1 + rng.int(16)));
  }
  frames.push(frameOf(payload, `${variant} (${payload.length} B)`));
  return [variant, frames];
}

/** A valid message of any type, as a plain object to mutate. */
function template(rng: Rng): Record<string, unknown> {
  const entity = pick(rng, ENTITIES);
  switch (rng.int(6)) {
    case 0: return { t: "hello", v: PROTOCOL_VERSION };
    case 5: return { t: "bye" };
    case 1: return { t: "resume", v: PROTOCOL_VERSION, session: randomUuid(rng), sent: { [entity]: rng.int(5) }, eos: [entity] };
    case 2: return { t: "resent" };
    case 3: return { ...batchMessage(rng, entity, rng.int(3), 1 + rng.int(5)) };
    default: return { t: "eos", entity, count: rng.int(3) };
  }
}

function confusedValue(rng: Rng): [string, unknown] {
  const m = template(rng);
  const keys = Object.keys(m);
  const what = pick(rng, ["replace-field", "replace-field", "replace-field", "drop-field", "extra-fields", "unknown-t", "gateway-type", "not-an-object", "negative-seq", "huge-int", "array-for-object", "columns-of-numbers"]);
  switch (what) {
    case "replace-field": m[pick(rng, keys)] = junk(rng); break;
    case "drop-field": delete m[pick(rng, keys)]; break;
    case "extra-fields": for (let i = 1 + rng.int(4); i > 0; i--) setOwn(m, randomString(rng), junk(rng)); break;
    case "unknown-t": m.t = rng.chance(0.5) ? randomString(rng) : junk(rng); break;
    case "gateway-type": return [what, { t: pick(rng, ["welcome", "heartbeat", "ack", "eos-ack", "result", "done", "error"]), session: randomUuid(rng), entity: "stores", seq: 0, query: "q1", chunk: 0, last: true, csv: "x", code: "X", message: "m", maxInFlight: 1, resumed: false, heartbeatMs: 1, rejected: [] }];
    case "not-an-object": return [what, pick(rng, [junk(rng), [m.t, m], "hello", 1, null, Object.values(m)])];
    case "negative-seq": return [what, { ...batchMessage(rng, pick(rng, ENTITIES), -1 - rng.int(1000), 2), ...(rng.chance(0.5) ? { seq: -0.5 } : {}) }];
    case "huge-int": {
      const key = keys.find((k) => k === "seq" || k === "count" || k === "v") ?? "v";
      m[key] = pick(rng, [2 ** 32, 2 ** 53, 2n ** 63n, 2n ** 64n - 1n, 1e300]);
      break;
    }
    case "array-for-object": return [what, rng.chance(0.5) ? Object.entries(m) : Object.values(m)];
    default: {
      const entity = pick(rng, ENTITIES);
      const columns = rng.chance(0.5)
        ? ENTITY_COLUMNS[entity].map(() => [rng.u32(), junk(rng)])
        : ENTITY_COLUMNS[entity].map(() => ({ text: rng.chance(0.5) ? "ab" : junk(rng), ends: rng.chance(0.5) ? Uint32Array.of(1, 2) : junk(rng) }));
      return [what, { t: "batch", entity, seq: 0, lines: Uint32Array.of(1, 2), columns }];
    }
  }
  return [what, m];
}

function typeConfusedPlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [];
  const inSession = rng.chance(0.6);
  if (inSession) {
    frames.push(hello());
    if (rng.chance(0.5)) frames.push(...validBatches(rng, pick(rng, ENTITIES), 1 + rng.int(3)));
  }
  const [what, value] = confusedValue(rng);
  frames.push(packed(value, `type-confused ${what}`));
  // Usually the confused frame ends the connection; sometimes more follow (the gateway must ignore them).
  for (let i = rng.chance(0.3) ? 1 + rng.int(3) : 0; i > 0; i--) frames.push(packed(confusedValue(rng)[1], "type-confused trailer"));
  return [`${inSession ? "session" : "fresh"}/${what}`, frames];
}

/** Valid hello, then a session that breaks the protocol's rules (or bends them legally). */
function sessionAbusePlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [hello()];
  const entity = pick(rng, ENTITIES);
  const n = rng.int(4);
  frames.push(...validBatches(rng, entity, n));
  // A flood is ~150 frames on one connection: rare, so that it does not dominate the frame count.
  const variant = rng.chance(0.02) ? "flood" : pick(rng, ["seq-gap", "seq-after-eos", "resend-old-seq", "wrong-column-count", "column-lengths", "eos-wrong-count", "eos-changed-count", "duplicate-eos", "batch-after-eos", "garbage-cells", "empty-batch", "resume-in-session", "resent-without-resume"]);
  switch (variant) {
    case "seq-gap":
      frames.push(message(batchMessage(rng, entity, n + 1 + rng.int(1000), 2), "seq gap"));
      break;
    case "seq-after-eos":
      frames.push(message({ t: "eos", entity, count: n }), message(batchMessage(rng, entity, n, 2), "seq after eos"));
      break;
    case "resend-old-seq":
      // A resend outside a resume: refused (one within a resume is legal).
      if (n > 0) frames.push(message(batchMessage(rng, entity, rng.int(n), 2), "old seq again"));
      frames.push(message(batchMessage(rng, entity, n, 2)));
      break;
    case "wrong-column-count": {
      const b = batchMessage(rng, entity, n, 3);
      const cols = rng.chance(0.5) ? b.columns.slice(0, -1) : [...b.columns, packColumn(["x", "y", "z"])];
      frames.push(packed({ ...b, columns: cols }, `${cols.length} columns`));
      break;
    }
    case "column-lengths": {
      const b = batchMessage(rng, entity, n, 3);
      const i = rng.int(b.columns.length);
      const c = b.columns[i]!;
      // A field too many, ends that go backwards, ends past the bytes, or text where bytes belong.
      const how = rng.int(4);
      b.columns[i] = how === 0 ? { bytes: Uint8Array.of(...c.bytes, 1, 2, 3, 4, 5), ends: Uint32Array.of(...c.ends, c.bytes.length + 5) }
        : how === 1 ? { bytes: c.bytes, ends: Uint32Array.of(c.ends[2]!, c.ends[1]!, c.ends[0]!) }
        : how === 2 ? { bytes: c.bytes.slice(0, -1), ends: c.ends }
        // A v2 client's column (a string) must be refused, not parsed.
        : ({ bytes: new TextDecoder().decode(c.bytes), ends: c.ends } as unknown as TextColumn);
      frames.push(packed(b, "mismatched column lengths"));
      break;
    }
    case "eos-wrong-count":
      frames.push(message({ t: "eos", entity, count: n + 1 + rng.int(100) }, "eos wrong count"));
      break;
    case "eos-changed-count":
      frames.push(message({ t: "eos", entity, count: n }), message({ t: "eos", entity, count: n + 1 }, "eos count changed"));
      break;
    case "duplicate-eos":
      frames.push(message({ t: "eos", entity, count: n }), message({ t: "eos", entity, count: n }, "duplicate eos"));
      break;
    case "batch-after-eos":
      frames.push(message({ t: "eos", entity, count: n }), message(batchMessage(rng, entity, n + rng.int(2), 2), "batch after eos"));
      break;
    case "flood":
      // More unacknowledged batches than any client is allowed (the gateway says maxInFlight, default 64).
      frames.push(...Array.from({ length: 140 + rng.int(40) }, (_, i) => message(batchMessage(rng, entity, n + i, 1), "flood batch")));
      break;
    case "garbage-cells":
      // Valid shape, unparsable contents: rows are rejected, the session goes on.
      for (let i = 0; i < 1 + rng.int(4); i++) frames.push(message(batchMessage(rng, entity, n + i, 1 + smallSize(rng, 30), 0.2), "garbage cells"));
      break;
    case "empty-batch":
      frames.push(message(batchMessage(rng, entity, n, 0), "zero-row batch"));
      break;
    case "resume-in-session":
      frames.push(message({ t: "resume", v: PROTOCOL_VERSION, session: randomUuid(rng), sent: {}, eos: [] }, "resume during a session"));
      break;
    default:
      frames.push(message({ t: "resent" }, "resent without resume"), message(batchMessage(rng, entity, n, 1)));
  }
  return [variant, frames];
}

/** Valid messages, in orders the protocol does not allow. */
function badOrderPlan(rng: Rng): [string, FuzzFrame[]] {
  const entity = pick(rng, ENTITIES);
  const variant = pick(rng, ["batch-before-hello", "eos-before-hello", "resent-before-hello", "two-hellos", "wrong-version", "resume-unknown", "resume-long-id", "resume-then-hello", "hello-then-resume"]);
  const frames: FuzzFrame[] = [];
  switch (variant) {
    case "batch-before-hello": frames.push(message(batchMessage(rng, entity, 0, 2)), hello()); break;
    case "eos-before-hello": frames.push(message({ t: "eos", entity, count: 0 }), hello()); break;
    case "resent-before-hello": frames.push(message({ t: "resent" }), hello()); break;
    case "two-hellos": frames.push(hello(), ...validBatches(rng, entity, rng.int(2)), hello()); break;
    case "wrong-version": frames.push(message({ t: "hello", v: pick(rng, [0, 2, 99, 0xffffffff]) }, "hello, wrong version")); break;
    case "resume-unknown":
      frames.push(message({ t: "resume", v: PROTOCOL_VERSION, session: rng.chance(0.7) ? randomUuid(rng) : randomString(rng).slice(0, 64), sent: { [entity]: rng.int(10) }, eos: rng.chance(0.5) ? [entity] : [] }, "resume unknown session"));
      frames.push(message(batchMessage(rng, entity, 0, 1)));
      break;
    case "resume-long-id": frames.push(packed({ t: "resume", v: PROTOCOL_VERSION, session: "s".repeat(65 + rng.int(10_000)), sent: {}, eos: [] }, "resume with a long id")); break;
    case "resume-then-hello": frames.push(message({ t: "resume", v: PROTOCOL_VERSION, session: randomUuid(rng), sent: {}, eos: [] }), hello()); break;
    default: frames.push(hello(), message({ t: "resume", v: PROTOCOL_VERSION, session: randomUuid(rng), sent: {}, eos: [] }, "resume after hello"));
  }
  return [variant, frames];
}

/** A complete, valid (tiny) session, sometimes abandoned before the end. */
function validSessionPlan(rng: Rng): [string, FuzzFrame[]] {
  const frames: FuzzFrame[] = [hello()];
  const abandon = rng.chance(0.3);
  for (const e of ENTITIES) {
    const n = rng.int(3);
    frames.push(...validBatches(rng, e, n));
    if (abandon && rng.chance(0.3)) return ["abandoned", frames];
    frames.push(message({ t: "eos", entity: e, count: n }, `eos ${e} ${n}`));
  }
  return [abandon ? "complete-maybe-early-close" : "complete", frames];
}

const PLANNERS: Readonly<Record<FuzzCategory, (rng: Rng) => [string, FuzzFrame[]]>> = {
  "random-bytes": randomBytesPlan,
  truncated: truncatedPlan,
  oversized: oversizedPlan,
  "header-bomb": headerBombPlan,
  "type-confused": typeConfusedPlan,
  "session-abuse": sessionAbusePlan,
  "bad-order": badOrderPlan,
  "valid-session": validSessionPlan,
};

/** The plan of connection `index` under `seed` (deterministic). */
export function planConnection(seed: number, index: number): FuzzConnectionPlan {
  const rng = new Rng(deriveSeed(seed, index));
  const category = pickCategory(rng);
  const [variant, frames] = PLANNERS[category](rng);
  const validSession = category === "valid-session";
  return {
    index, category, variant, frames,
    pieces: rng.chance(0.25) ? 2 + rng.int(8) : 1,
    lingerMs: validSession ? (variant === "complete" ? 1500 : rng.int(50)) : rng.chance(0.5) ? rng.int(40) : 0,
    untilDone: validSession,
  };
}

/** A readable dump of connection `index` under `seed`: what to report when it breaks the gateway. */
export function describeConnection(seed: number, index: number): string {
  const p = planConnection(seed, index);
  const lines = [`seed ${seed} connection #${index}: ${p.category}/${p.variant}, ${p.frames.length} frame(s) in ${p.pieces} write(s), linger ${p.lingerMs} ms`];
  for (const [i, f] of p.frames.entries()) {
    const hex = Buffer.from(f.bytes.subarray(0, 48)).toString("hex");
    lines.push(`  ${i}: ${f.label} (${f.bytes.length} B) ${hex}${f.bytes.length > 48 ? "…" : ""}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Running

/** Counters of a fuzz run. */
export interface FuzzStats {
  connections: number;
  /** Frames (or raw garbage chunks) whose last byte was written to a socket. */
  framesSent: number;
  bytesSent: number;
  /** Per category: connections and frames sent. */
  byCategory: Record<FuzzCategory, { connections: number; frames: number }>;
  /** Connections per `category/variant`. */
  byVariant: Record<string, number>;
  /** Gateway replies by type; errors as `error:CODE`. */
  replies: Record<string, number>;
  /** Replies that did not decode as gateway messages (must stay 0). */
  badReplies: number;
  /** Connections the gateway closed before the fuzzer did. */
  closedByGateway: number;
  /** Connections that did not close within the grace period after end() and were terminated. */
  terminated: number;
  connectErrors: number;
  /** Connections not yet closed (0 once a run returned). */
  open: number;
  /** Connection indexes run, in start order (for reporting a failure). */
  started: number[];
  /** Connection indexes under way right now (for reporting a failure). */
  active: Set<number>;
}

/** An empty stats record. */
export function newFuzzStats(): FuzzStats {
  const byCategory = Object.fromEntries(FUZZ_CATEGORIES.map((c) => [c, { connections: 0, frames: 0 }])) as Record<FuzzCategory, { connections: number; frames: number }>;
  return { connections: 0, framesSent: 0, bytesSent: 0, byCategory, byVariant: {}, replies: {}, badReplies: 0, closedByGateway: 0, terminated: 0, connectErrors: 0, open: 0, started: [], active: new Set() };
}

interface ConnState {
  closed: boolean;
  done: boolean;
  wake: (() => void) | null;
}

/** Resolves when `state` changes (data, drain, close) or after `ms`. */
function changeOrTimeout(state: ConnState, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      state.wake = null;
      resolve();
    }, ms);
    state.wake = () => {
      clearTimeout(timer);
      state.wake = null;
      resolve();
    };
  });
}

/** Run one planned connection to its end; the socket is always closed when this resolves. */
async function runConnection(host: string, port: number, plan: FuzzConnectionPlan, stats: FuzzStats): Promise<void> {
  const state: ConnState = { closed: false, done: false, wake: null };
  const decoder = new FrameDecoder(FUZZ_FRAME_LIMIT);
  const poke = (): void => state.wake?.();
  let socket: Socket<undefined>;
  try {
    socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data(_s, data) {
          try {
            for (const f of decoder.push(data)) {
              const m = decodeGatewayMessage(f);
              const key = m.t === "error" ? `error:${m.code}` : m.t;
              stats.replies[key] = (stats.replies[key] ?? 0) + 1;
              if (m.t === "done") state.done = true;
            }
          } catch {
            stats.badReplies++;
          }
          poke();
        },
        drain: poke,
        end: poke,
        close() {
          state.closed = true;
          poke();
        },
        error: poke,
      },
    });
  } catch {
    stats.connectErrors++;
    return;
  }
  stats.open++;
  try {
    stats.connections++;
    stats.byCategory[plan.category].connections++;
    const variant = `${plan.category}/${plan.variant}`;
    stats.byVariant[variant] = (stats.byVariant[variant] ?? 0) + 1;
    const stream = concat(...plan.frames.map((f) => f.bytes));
    const ends: number[] = [];
    let total = 0;
    for (const f of plan.frames) ends.push((total += f.bytes.length));
    // Piece boundaries: random cut points (deterministic for the plan).
    const cuts = new Rng(deriveSeed(plan.index, 7));
    const bounds = Array.from({ length: plan.pieces - 1 }, () => cuts.int(stream.length + 1)).sort((a, b) => a - b);
    bounds.push(stream.length);
    let written = 0;
    let counted = 0;
    for (const bound of bounds) {
      while (written < bound && !state.closed) {
        const n = socket.write(stream.subarray(written, bound));
        if (n > 0) written += n;
        if (written < bound && !state.closed) await changeOrTimeout(state, 1000);
      }
      while (counted < ends.length && ends[counted]! <= written) counted++;
      if (state.closed) break;
      if (plan.pieces > 1) await Bun.sleep(0);
    }
    stats.framesSent += counted;
    stats.bytesSent += written;
    stats.byCategory[plan.category].frames += counted;
    // Give the gateway time to answer (or to close on us), then close our side.
    const lingerUntil = performance.now() + plan.lingerMs;
    while (!state.closed && !(plan.untilDone && state.done) && performance.now() < lingerUntil) {
      await changeOrTimeout(state, Math.max(1, lingerUntil - performance.now()));
    }
    if (state.closed) {
      stats.closedByGateway++;
    } else {
      socket.end();
      const graceUntil = performance.now() + 2000;
      while (!state.closed && performance.now() < graceUntil) await changeOrTimeout(state, Math.max(1, graceUntil - performance.now()));
      if (!state.closed) {
        stats.terminated++;
        socket.terminate();
      }
    }
  } finally {
    stats.open--;
  }
}

/** Options of a fuzz run. */
export interface FuzzRunOptions {
  host: string;
  port: number;
  seed: number;
  /** Keep opening connections until at least this many frames were sent. */
  minFrames: number;
  /** Connections open at once. */
  concurrency: number;
  /** First connection index (to continue a previous run under the same seed). */
  startIndex?: number;
  /** Hard stop on connections, in case frames cannot be sent at all. */
  maxConnections?: number;
  stats?: FuzzStats;
  /** Stops opening new connections (those under way finish and close). */
  signal?: AbortSignal;
  /** Keep opening connections while this holds, even past `minFrames`. */
  continueWhile?: () => boolean;
  /** Awaited before each connection opens (e.g. to keep the gateway's session table from filling up). */
  pace?: () => Promise<void>;
}

/**
 * Run connections `startIndex, startIndex+1, ...` of `seed`, `concurrency` at a time, until
 * `minFrames` frames were sent (and `continueWhile` no longer holds); resolves once every
 * connection is closed.
 */
export async function runFuzzer(opts: FuzzRunOptions): Promise<{ stats: FuzzStats; nextIndex: number }> {
  const stats = opts.stats ?? newFuzzStats();
  const target = stats.framesSent + opts.minFrames;
  const maxConnections = opts.maxConnections ?? 100_000;
  let next = opts.startIndex ?? 0;
  const first = next;
  const worker = async (): Promise<void> => {
    const more = (): boolean => stats.framesSent < target || (opts.continueWhile?.() ?? false);
    while (more() && next - first < maxConnections && !opts.signal?.aborted) {
      await opts.pace?.();
      const index = next++;
      stats.started.push(index);
      stats.active.add(index);
      try {
        await runConnection(opts.host, opts.port, planConnection(opts.seed, index), stats);
      } finally {
        stats.active.delete(index);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { stats, nextIndex: next };
}
