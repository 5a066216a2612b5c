import { describe, expect, jest, test } from "bun:test";
import { BLIND_HOLD_MS } from "./backlogGate.ts";
import { decodeMessage } from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import { newSession, type Connection, type Session } from "./gatewaySession.ts";
import { CoffeeMetrics } from "./metrics.ts";
import type { ClientMessage, GatewayMessage } from "./protocol.ts";
import { ResultPump } from "./resultPump.ts";
import { packColumn } from "./textColumn.ts";
import type { Transport } from "./transport.ts";
import { UploadPublisher, type UploadCounters } from "./uploadPublisher.ts";

/** A publish the test confirms or fails by hand, in any order. */
interface PendingPublish { key: string; body: Uint8Array; confirm(): void; reject(err: Error): void }

function harness(limits = { maxInFlight: 4, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 0 }, tellsDepths = true) {
  const published: PendingPublish[] = [];
  const transport: Transport = {
    declare: async () => {},
    close: async () => {},
    consume: () => { throw new Error("not used"); },
    publish: (key, body) => new Promise<void>((confirm, reject) => { published.push({ key, body, confirm, reject }); }),
    // Polled by the gateway, not by the upload path: present only so the backlog gate may hold.
    ...(tellsDepths ? { queueDepths: async () => [] } : {}),
  };
  const sent: GatewayMessage[] = [];
  const failed: unknown[] = [];
  const reads: string[] = [];
  const counters: UploadCounters = { rowsIn: 0, rowsRejected: 0, readPauses: 0, backlogHolds: 0 };
  const wanted: string[] = [];
  const warnings: string[] = [];
  const session: Session = newSession("s1", new ResultPump(() => { throw new Error("not used"); }, 1000, () => {}));
  const all = [session];
  const upload = new UploadPublisher({
    limits, transport, counters, metrics: new CoffeeMetrics({ role: "gateway", name: "gateway" }),
    send: (_conn, msg) => void sent.push(msg),
    fail: (_conn, err) => void failed.push(err),
    maybeFinish: () => {},
    sessions: () => all,
    pipelineQueues: new Set(["filter-year", "agg-q4"]),
    wantDepths: () => void wanted.push("poll"),
    readAgain: () => void reads.push("deadline afresh"),
    warn: (m) => void warnings.push(m),
  });
  // Only what the upload path touches: pausing reads, and the decoder's release at the end.
  session.conn = { socket: { pause: () => reads.push("pause"), resume: () => reads.push("resume") }, decoder: { release: () => {} }, closed: false, readPaused: false } as unknown as Connection;
  /** Another running session, whose pauses and resumes are recorded as `<id> pause` / `<id> resume`. */
  const another = (id: string): Session => {
    const other = newSession(id, new ResultPump(() => { throw new Error("not used"); }, 1000, () => {}));
    other.conn = { socket: { pause: () => reads.push(`${id} pause`), resume: () => reads.push(`${id} resume`) }, decoder: { release: () => {} }, closed: false, readPaused: false } as unknown as Connection;
    all.push(other);
    return other;
  };
  return { upload, session, published, sent, failed, reads, counters, wanted, warnings, another };
}

/** A stores batch of `names.length` rows (store ids 1..n); a name of "bad" gets a bad id. */
function storesBatch(seq: number, names: string[]): Extract<ClientMessage, { t: "batch" }> {
  const ids = names.map((n, i) => (n === "bad" ? "x" : String(i + 1)));
  return { t: "batch", entity: "stores", seq, lines: Uint32Array.from(names.map((_, i) => i + 2)), columns: [packColumn(ids), packColumn(names)] };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe("UploadPublisher", () => {
  test("a batch is acked only once the broker confirmed it, with its rejected lines", async () => {
    const h = harness();
    h.upload.batch(h.session, storesBatch(0, ["Centro", "bad"]));
    expect(h.published).toHaveLength(1);
    const message = decodeMessage(h.published[0]!.body);
    expect(message).toMatchObject({ kind: "data", session: "s1", entity: "stores", seq: 0 });
    expect(h.counters).toEqual({ rowsIn: 2, rowsRejected: 1, readPauses: 0, backlogHolds: 0 });
    expect(h.sent).toEqual([]);
    expect(h.session.inFlight).toBe(1);
    h.published[0]!.confirm();
    await settle();
    expect(h.sent).toEqual([{ t: "ack", entity: "stores", seq: 0, rejected: [3], reasons: ["store_id is not an id (a whole number from 0 to 2147483647)"] }]);
    expect(h.session.inFlight).toBe(0);
    expect(h.session.rowsAcked.get("stores")).toBe(2);
  });

  test("out-of-order batches and a window overrun are protocol errors", () => {
    const h = harness({ maxInFlight: 1, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 0 });
    expect(() => h.upload.batch(h.session, storesBatch(1, ["A"]))).toThrow(ProtocolError);
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    expect(() => h.upload.batch(h.session, storesBatch(1, ["B"]))).toThrow("more than 1 unacknowledged batches");
  });

  test("a batch over the row limit is LIMIT_EXCEEDED; a row with a field over the limit is rejected", async () => {
    const h = harness({ maxInFlight: 4, maxInFlightBytes: 1 << 20, maxBatchRows: 1, maxFieldBytes: 64, maxBacklog: 0 });
    expect(() => h.upload.batch(h.session, storesBatch(0, ["A", "B"]))).toThrow(expect.objectContaining({ code: "LIMIT_EXCEEDED" }));
    const wide = harness();
    wide.upload.batch(wide.session, storesBatch(0, ["x".repeat(64), "x".repeat(65)]));
    expect(decodeMessage(wide.published[0]!.body)).toMatchObject({ body: { name: ["x".repeat(64)] } });
    wide.published[0]!.confirm();
    await settle();
    expect(wide.sent).toEqual([{ t: "ack", entity: "stores", seq: 0, rejected: [3], reasons: ["store_name is longer than 64 bytes"] }]);
  });

  test("a session at its byte share is not read until under half of it", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 100_000, maxFieldBytes: 64, maxBacklog: 0 });
    const names = Array.from({ length: 20_000 }, (_, i) => `store ${i}`);
    let seq = 0;
    while (!h.upload.isPaused(h.session)) h.upload.batch(h.session, storesBatch(seq++, names));
    expect(h.reads).toEqual(["pause"]);
    expect(h.counters.readPauses).toBe(1);
    for (const p of h.published) p.confirm();
    await settle();
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
    expect(h.upload.isPaused(h.session)).toBe(false);
  });

  test("a backlog hold stops reading an uploading session; the release reads it again", () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    h.upload.depthsPolled([{ queue: "filter-year", messages: 5, consumers: 1 }]);
    expect(h.reads).toEqual(["pause"]);
    expect(h.upload.isPaused(h.session)).toBe(true);
    expect(h.counters.backlogHolds).toBe(1);
    // The one batch published is unconfirmed: counted on top of the depth polled.
    expect(h.upload.backlog()).toEqual({ held: true, deepest: { queue: "filter-year", messages: 5 }, unpolled: 1, bound: 4 });
    // Not yet down to half of 4.
    h.upload.depthsPolled([{ queue: "filter-year", messages: 3, consumers: 1 }]);
    expect(h.reads).toEqual(["pause"]);
    h.upload.depthsPolled([{ queue: "filter-year", messages: 1, consumers: 1 }]);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
    expect(h.upload.isPaused(h.session)).toBe(false);
  });

  test("publishes past the credit the last poll left hold the upload and ask for a fresh poll", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    h.upload.depthsPolled([{ queue: "agg-q4", messages: 2, consumers: 1 }]);
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    h.upload.batch(h.session, storesBatch(1, ["A"]));
    expect(h.reads).toEqual([]);
    expect(h.wanted).toEqual([]);
    h.upload.batch(h.session, storesBatch(2, ["A"]));
    expect(h.reads).toEqual(["pause"]);
    expect(h.wanted).toEqual(["poll"]);
    // Confirmed, then a fresh poll finds the pipeline drained: read again.
    for (const p of h.published) p.confirm();
    await settle();
    h.upload.depthsPollStarting();
    h.upload.depthsPolled([{ queue: "agg-q4", messages: 0, consumers: 1 }]);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
  });

  test("publishes the broker had not confirmed when a poll started still count after it", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    for (let seq = 0; seq < 5; seq++) h.upload.batch(h.session, storesBatch(seq, ["A"]));
    expect(h.reads).toEqual(["pause"]);
    // Not yet in any queue the poll could see: 5 pending against a bound of 4 holds on.
    h.upload.depthsPollStarting();
    h.upload.depthsPolled([{ queue: "agg-q4", messages: 0, consumers: 1 }]);
    expect(h.reads).toEqual(["pause"]);
    for (const p of h.published) p.confirm();
    await settle();
    // Confirmed after that poll began: the next one counts them in its depths.
    h.upload.depthsPollStarting();
    h.upload.depthsPolled([{ queue: "agg-q4", messages: 1, consumers: 1 }]);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
  });

  test("released from the backlog, a session still at its byte share stays unread", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 100_000, maxFieldBytes: 64, maxBacklog: 1000 });
    const names = Array.from({ length: 20_000 }, (_, i) => `store ${i}`);
    let seq = 0;
    while (!h.upload.isPaused(h.session)) h.upload.batch(h.session, storesBatch(seq++, names));
    expect(h.reads).toEqual(["pause"]);
    h.upload.depthsPolled([{ queue: "filter-year", messages: 2000, consumers: 1 }]);
    expect(h.upload.backlog().held).toBe(true);
    h.upload.depthsPolled([{ queue: "filter-year", messages: 0, consumers: 1 }]);
    // Held and released by the gate, but its confirms are still out: no resume yet.
    expect(h.upload.backlog().held).toBe(false);
    expect(h.reads).toEqual(["pause"]);
    // Held again before it published since: once its confirms are in, it may send one more
    // message (every session moves at each release), and then waits for the next release.
    h.upload.depthsPolled([{ queue: "filter-year", messages: 2000, consumers: 1 }]);
    const before = h.published.length;
    for (const p of h.published) p.confirm();
    await settle();
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
    h.upload.batch(h.session, storesBatch(seq++, ["A"]));
    expect(h.published).toHaveLength(before + 1);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh", "pause"]);
    expect(h.upload.isPaused(h.session)).toBe(true);
    h.upload.depthsPollStarting();
    h.upload.depthsPolled([{ queue: "filter-year", messages: 0, consumers: 1 }]);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh", "pause", "resume", "deadline afresh"]);
  });

  test("every uploading session may publish one message per release: the one read first cannot take all the credit", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    const small = h.another("s2");
    // The big session's read after a release fills the credit and holds every upload...
    let seq = 0;
    while (!h.upload.backlog().held) h.upload.batch(h.session, storesBatch(seq++, ["A"]));
    expect(h.upload.isPaused(h.session)).toBe(true);
    // ...but the small one, which has not published since the release, is still read: one message.
    expect(h.upload.isPaused(small)).toBe(false);
    h.upload.batch(small, storesBatch(0, ["B"]));
    expect(h.reads).toEqual(["pause", "s2 pause"]);
    // The release reads both again.
    for (const p of h.published) p.confirm();
    await settle();
    h.upload.depthsPollStarting();
    h.upload.depthsPolled([{ queue: "filter-year", messages: 0, consumers: 1 }]);
    expect(h.upload.isPaused(h.session)).toBe(false);
    expect(h.upload.isPaused(small)).toBe(false);
  });

  test("a session past its upload is read during a hold (for its bye)", () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    for (const e of ["stores", "menu_items", "users", "transactions", "transaction_items"] as const) h.session.eosCount.set(e, 0);
    h.upload.depthsPolled([{ queue: "filter-year", messages: 50, consumers: 1 }]);
    expect(h.upload.backlog().held).toBe(true);
    expect(h.reads).toEqual([]);
    expect(h.upload.isPaused(h.session)).toBe(false);
  });

  test("an upload that ends during a hold (its last end-of-stream in the same read) is read again, for its bye", async () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    h.upload.depthsPolled([{ queue: "filter-year", messages: 50, consumers: 1 }]);
    expect(h.reads).toEqual(["pause"]);
    for (const e of ["stores", "menu_items", "users", "transactions", "transaction_items"] as const) h.upload.eos(h.session, { t: "eos", entity: e, count: e === "stores" ? 1 : 0 });
    expect(h.upload.backlog().held).toBe(true);
    expect(h.reads).toEqual(["pause", "resume", "deadline afresh"]);
  });

  test("holds let go because depth polls fail are logged once per run of failing polls", () => {
    jest.useFakeTimers();
    try {
      const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 4 });
      h.upload.depthsPolled([{ queue: "filter-year", messages: 50, consumers: 1 }]);
      expect(h.upload.backlog().held).toBe(true);
      jest.advanceTimersByTime(BLIND_HOLD_MS);
      h.upload.depthsPolled(null);
      expect(h.upload.backlog().held).toBe(false);
      expect(h.warnings).toHaveLength(1);
      // Held again by a publish, let go by the next failed poll: not said again.
      h.upload.batch(h.session, storesBatch(0, ["A"]));
      expect(h.upload.backlog().held).toBe(true);
      h.upload.depthsPolled(null);
      expect(h.upload.backlog().held).toBe(false);
      expect(h.warnings).toHaveLength(1);
      // A poll answered ends the run; the next one is said again.
      h.upload.depthsPolled([{ queue: "filter-year", messages: 50, consumers: 1 }]);
      jest.advanceTimersByTime(BLIND_HOLD_MS);
      h.upload.depthsPolled(null);
      expect(h.warnings).toHaveLength(2);
      expect(h.warnings[1]).toContain("could not be read for 10 s");
    } finally {
      jest.useRealTimers();
    }
  });

  test("over a transport that cannot tell queue depths, nothing is ever held", () => {
    const h = harness({ maxInFlight: 100, maxInFlightBytes: 1 << 20, maxBatchRows: 1000, maxFieldBytes: 64, maxBacklog: 1 }, false);
    for (let seq = 0; seq < 5; seq++) h.upload.batch(h.session, storesBatch(seq, ["A"]));
    expect(h.reads).toEqual([]);
    expect(h.upload.backlog().held).toBe(false);
  });

  test("a publish the broker refuses fails the session's connection", async () => {
    const h = harness();
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    h.published[0]!.reject(new Error("channel closed"));
    await settle();
    expect(h.failed).toHaveLength(1);
    expect(h.sent).toEqual([]);
    expect(h.session.inFlight).toBe(0);
  });

  test("end-of-stream must count the batches sent, and is acked once confirmed", async () => {
    const h = harness();
    h.upload.batch(h.session, storesBatch(0, ["A"]));
    expect(() => h.upload.eos(h.session, { t: "eos", entity: "stores", count: 2 })).toThrow("says 2 batches, 1 were sent");
    h.upload.eos(h.session, { t: "eos", entity: "stores", count: 1 });
    expect(decodeMessage(h.published[1]!.body)).toMatchObject({ kind: "eos", entity: "stores", count: 1 });
    h.published[1]!.confirm();
    await settle();
    expect(h.sent).toEqual([{ t: "eos-ack", entity: "stores" }]);
    expect(h.session.eosConfirmed.has("stores")).toBe(true);
  });
});
