import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decodeMessage, encodeMessage, isGatewayBound, sessionOfUndecodable, type BrokerMessage } from "./codec.ts";
import { DecodeError } from "./errors.ts";
import type { TransactionsBody } from "./entityBatch.ts";
import { packColumn } from "./textColumn.ts";

const tx: TransactionsBody = {
  id: packColumn(["a", "b"]), store: Int32Array.of(1, 2), user: Int32Array.of(-1, 7), cents: Float64Array.of(7500, 12.5),
  date: Int32Array.of(20240101, 20251231), time: Int32Array.of(0, 86399),
};

/** One message of every kind. */
const EVERY_KIND: BrokerMessage[] = [
  { kind: "data", session: "s1", entity: "transactions", seq: 3, bodyKind: "transactions", body: tx },
  { kind: "eos", session: "s1", entity: "users", count: 12 },
  { kind: "purge", session: "s1", reason: "client disconnected" },
  { kind: "result", session: "s1", query: "q2", chunk: 4, last: true, csv: "a,b\n" },
  { kind: "failed", session: "s1", reason: "filter-year: boom" },
  { kind: "stateLost", query: "q4", reason: "WAL_CORRUPT: CRC mismatch" },
];

describe("codec", () => {
  test("round-trips every message kind", () => {
    for (const m of EVERY_KIND) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  test("result, failed and stateLost are bound for the gateway; data, eos and purge are stage input", () => {
    expect(EVERY_KIND.filter(isGatewayBound).map((m) => m.kind)).toEqual(["result", "failed", "stateLost"]);
  });

  test("an encoded message stays as it was while later messages are encoded", () => {
    const first = encodeMessage({ kind: "data", session: "s1", entity: "transactions", seq: 1, bodyKind: "transactions", body: tx });
    const copy = Uint8Array.from(first);
    // Enough later messages, small and large, to make msgpackr fill and replace its buffer.
    for (let i = 0; i < 200; i++) encodeMessage({ kind: "result", session: "s2", query: "q1", chunk: i, last: false, csv: "x".repeat(i * 997) });
    expect(Uint8Array.from(first)).toEqual(copy);
    expect(decodeMessage(first)).toEqual({ kind: "data", session: "s1", entity: "transactions", seq: 1, bodyKind: "transactions", body: tx });
  });

  test("an encoded message owns memory of its exact size, pinning no shared buffer", () => {
    const big = encodeMessage({ kind: "result", session: "s", query: "q1", chunk: 0, last: false, csv: "y".repeat(300_000) });
    const small = encodeMessage({ kind: "eos", session: "s", entity: "users", count: 1 });
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(big.byteLength);
    expect(small.buffer).not.toBe(big.buffer);
    expect(decodeMessage(big)).toEqual({ kind: "result", session: "s", query: "q1", chunk: 0, last: false, csv: "y".repeat(300_000) });
  });

  test("version-1 messages (from WALs and queues of the build before) decode in today's shape", () => {
    const v1 = (payload: unknown[]): Uint8Array => Uint8Array.from([0xcf, 1, 1, ...new Packr({ useRecords: false, moreTypes: true }).pack(payload)]);
    const old = { ...tx, id: ["a", "b"] };
    expect(decodeMessage(v1(["s1", "transactions", 3, "transactions", old]))).toEqual({ kind: "data", session: "s1", entity: "transactions", seq: 3, bodyKind: "transactions", body: tx });
    const users = decodeMessage(v1(["s1", "users", 0, "users", { user: Int32Array.of(1, 2), birthdate: ["1969-12-31", ""] }]));
    expect(users).toEqual({ kind: "data", session: "s1", entity: "users", seq: 0, bodyKind: "users", body: { user: Int32Array.of(1, 2), birth: Int32Array.of(19691231, 0) } });
    expect(() => decodeMessage(v1(["s1", "users", 0, "users", { user: Int32Array.of(1), birthdate: ["1969-02-30"] }]))).toThrow("not a date");
    expect(() => decodeMessage(Uint8Array.of(0xcf, 3, 2, 0x90))).toThrow("unsupported version 3");
  });

  test("a text column decodes as a view of the message, not a copy", () => {
    const bytes = encodeMessage({ kind: "data", session: "s", entity: "transactions", seq: 0, bodyKind: "transactions", body: tx });
    const d = decodeMessage(bytes);
    if (d.kind !== "data") throw new Error("kind");
    expect((d.body as TransactionsBody).id.bytes.buffer).toBe(bytes.buffer);
  });

  test("typed columns decode as typed arrays", () => {
    const d = decodeMessage(encodeMessage({ kind: "data", session: "s", entity: "transactions", seq: 0, bodyKind: "transactions", body: tx }));
    if (d.kind !== "data") throw new Error("kind");
    const body = d.body as TransactionsBody;
    expect(body.store).toBeInstanceOf(Int32Array);
    expect(body.cents).toBeInstanceOf(Float64Array);
    expect([...body.user]).toEqual([-1, 7]);
  });

  test("rejects bad bytes with MESSAGE_MALFORMED, never a crash", () => {
    const good = encodeMessage({ kind: "eos", session: "s1", entity: "users", count: 1 });
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(1, 2, 3, 4, 5),
      Uint8Array.of(0xcf, 9, 2, 0x90),
      Uint8Array.of(0xcf, 1, 77, 0x90),
      good.subarray(0, good.length - 2),
      Uint8Array.from([...good.subarray(0, 3), 0xc1, 0xc1]),
      // A stateLost naming no query it knows.
      Uint8Array.from([...encodeMessage({ kind: "stateLost", query: "q4", reason: "x" })].map((b, i) => (i === 5 ? 0x39 : b))),
    ];
    for (const c of cases) {
      try {
        decodeMessage(c);
        throw new Error("decoded garbage");
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).code).toBe("MESSAGE_MALFORMED");
      }
    }
  });

  test("rejects bodies whose columns do not fit the schema", () => {
    const bad = [
      { ...tx, store: [1, 2] },
      { ...tx, cents: Float64Array.of(1) },
      { ...tx, extra: [] },
      { ...tx, id: ["a", "b"] },
      { ...tx, id: packColumn(["a"]) },
      { ...tx, id: { bytes: Uint8Array.of(97, 98), ends: Uint32Array.of(1, 3) } },
    ];
    for (const body of bad) {
      const bytes = encodeMessage({ kind: "data", session: "s", entity: "transactions", seq: 0, bodyKind: "transactions", body: body as unknown as TransactionsBody });
      expect(() => decodeMessage(bytes)).toThrow(DecodeError);
    }
  });

  test("random bytes after a valid prefix never escape as anything but DecodeError", () => {
    let seed = 42;
    const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 2000; i++) {
      const n = 3 + Math.floor(rand() * 60);
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      bytes[0] = 0xcf;
      bytes[1] = 1;
      bytes[2] = 1 + Math.floor(rand() * 4);
      try {
        decodeMessage(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
      }
    }
  });
});

test("every header field is checked: ids, entity, counts past u32, extra elements, field types", () => {
  const raw = (kind: number, payload: unknown[]): Uint8Array => Uint8Array.from([0xcf, 2, kind, ...new Packr({ useRecords: false, moreTypes: true }).pack(payload)]);
  const bad: [string, Uint8Array][] = [
    ["data, extra element", raw(1, ["s1", "transactions", 3, "transactions", tx, "extra"])],
    ["data, unknown entity", raw(1, ["s1", "coupons", 3, "transactions", tx])],
    ["eos, extra element", raw(2, ["s1", "users", 1, 0])],
    ["eos, count past u32", raw(2, ["s1", "users", 2 ** 32])],
    ["eos, empty session", raw(2, ["", "users", 1])],
    ["eos, session of 65 chars", raw(2, ["s".repeat(65), "users", 1])],
    ["purge, reason not a string", raw(3, ["s1", 7])],
    ["result, last not a boolean", raw(4, ["s1", "q1", 0, 1, "a\n"])],
  ];
  for (const [what, bytes] of bad) {
    let err: unknown = null;
    try {
      decodeMessage(bytes);
    } catch (e) {
      err = e;
    }
    expect([what, err instanceof DecodeError]).toEqual([what, true]);
  }
  // The bounds themselves are accepted.
  expect(decodeMessage(raw(2, ["s".repeat(64), "users", 2 ** 32 - 1]))).toEqual({ kind: "eos", session: "s".repeat(64), entity: "users", count: 2 ** 32 - 1 });
});

test("sessionOfUndecodable reads the session from a damaged message's envelope, and nothing it cannot trust", () => {
  const good = encodeMessage({ kind: "eos", session: "abc", entity: "users", count: 1 });
  const damaged = Uint8Array.from(good);
  damaged[damaged.length - 1] = 0xc1; // the body no longer decodes
  expect(sessionOfUndecodable(damaged)).toBe("abc");
  // A fixarray of 15 elements (0x9f) still has its session read.
  expect(sessionOfUndecodable(Uint8Array.of(0xcf, 2, 1, 0x9f, 0xa3, 0x61, 0x62, 0x63))).toBe("abc");
  // A string announcing one byte more than is there.
  expect(sessionOfUndecodable(Uint8Array.of(0xcf, 2, 1, 0x91, 0xa4, 0x61, 0x62, 0x63))).toBeNull();
  // Bytes that are not UTF-8.
  expect(sessionOfUndecodable(Uint8Array.of(0xcf, 2, 1, 0x91, 0xa2, 0xff, 0xfe))).toBeNull();
});
