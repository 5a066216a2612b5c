import { expect, test } from "bun:test";
import { scratchDirs } from "../test/harness.ts";
import { encodeMessage } from "./codec.ts";
import { newSession, type Connection, type Session } from "./gatewaySession.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import { CoffeeMetrics } from "./metrics.ts";
import { ResultRelay } from "./resultRelay.ts";
import type { Delivery } from "./transport.ts";

const scratch = scratchDirs();

/** A delivery of one result chunk that records its acks. */
function chunk(session: string, query: "q1" | "q2", n: number, last: boolean, acks: string[], csv = `${query} chunk ${n}\n`): Delivery {
  const body = encodeMessage({ kind: "result", session, query, chunk: n, last, csv });
  return { body, redelivered: false, ack: () => acks.push(`${query}#${n}`) > 0, nack: () => {} };
}

async function relayFor(sessionIds: string[], stateDir: string | null = null) {
  const store = await GatewayStore.open(stateDir);
  const group = new GroupCommit(() => store.commit(), (err) => { throw err; });
  const sessions = new Map<string, Session>();
  const counters = { duplicateChunks: 0 };
  const finishChecks: string[] = [];
  const failures: string[] = [];
  const logged: string[] = [];
  const log: Logger = { info: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) };
  const relay: ResultRelay = new ResultRelay({
    store, group, counters, log, metrics: new CoffeeMetrics({ role: "gateway", name: "gateway" }),
    idleTimeoutMs: 1000, send: () => {}, storageFailed: (err) => { throw err; },
    fail: () => {},
    sessionFailed: (s, err) => void failures.push(`${s.id} ${err.code}: ${err.message}`),
    maybeFinish: (s) => void finishChecks.push(s.id),
    running: (id) => sessions.get(id), allRunning: () => sessions.values(), known: (id) => sessions.get(id),
  });
  for (const id of sessionIds) {
    sessions.set(id, newSession(id, relay.newPump(id)));
    store.open(id);
  }
  await group.now();
  return { relay, store, group, counters, finishChecks, logged, failures, sessions };
}

test("a chunk is acked only once stored durably, and a redelivered one is stored once, acked once the first is durable", async () => {
  const { relay, store, group, counters, finishChecks } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("s1", "q1", 0, false, acks));
  expect(acks).toEqual([]);
  // A redelivery before the first copy is durable waits for the same commit.
  relay.deliver(chunk("s1", "q1", 0, false, acks));
  expect(acks).toEqual([]);
  await group.now();
  expect(acks).toEqual(["q1#0", "q1#0"]);
  expect(counters.duplicateChunks).toBe(1);
  expect(store.sessions.get("s1")?.chunks.map((c) => [c.query, c.chunk])).toEqual([["q1", 0]]);
  expect(finishChecks).toEqual(["s1"]);
});

test("a chunk of an unknown session is acked and dropped; a message that is not a result is dropped too", async () => {
  const { relay, store, logged } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("elsewhere", "q2", 3, true, acks));
  expect(acks).toEqual(["q2#3"]);
  expect(store.sessions.has("elsewhere")).toBe(false);
  let acked = false;
  relay.deliver({ body: encodeMessage({ kind: "purge", session: "s1", reason: "test" }), redelivered: false, ack: () => (acked = true), nack: () => {} });
  expect(acked).toBe(true);
  expect(store.sessions.get("s1")?.chunks).toEqual([]);
  expect(logged).toEqual([
    "result chunk q2#3 for unknown or ended session elsewhere dropped",
    "dropping result message: unexpected purge message on the results queue",
  ]);
});

test("a stage's failure report ends its running session, acked once durable; one for a session not running is dropped", async () => {
  const { relay, group, failures, logged } = await relayFor(["s1"]);
  const acks: string[] = [];
  const failed = (session: string): Delivery => ({
    body: encodeMessage({ kind: "failed", session, reason: "filter-year: transactions batch #3 could not be processed: boom" }),
    redelivered: false, ack: () => acks.push(session) > 0, nack: () => {},
  });
  relay.deliver(failed("s1"));
  relay.deliver(failed("unknown"));
  expect(failures).toEqual([
    "s1 PIPELINE_FAILED: a stage could not process this session's data (filter-year: transactions batch #3 could not be processed: boom); the session was dropped",
  ]);
  expect(acks).toEqual(["unknown"]);
  expect(logged).toEqual(["session unknown is not running here; a stage's failure report for it dropped: filter-year: transactions batch #3 could not be processed: boom"]);
  await group.now();
  expect(acks).toEqual(["unknown", "s1"]);
});

test("a result message that does not decode fails the running session its envelope names", async () => {
  const { relay, group, failures } = await relayFor(["s1"]);
  const whole = encodeMessage({ kind: "result", session: "s1", query: "q2", chunk: 0, last: true, csv: "x".repeat(200) });
  const acks: string[] = [];
  relay.deliver({ body: whole.subarray(0, whole.length - 50), redelivered: false, ack: () => acks.push("cut") > 0, nack: () => {} });
  expect(failures).toEqual([expect.stringMatching(/^s1 PIPELINE_FAILED: a result message of this session could not be decoded \(malformed broker message/)]);
  await group.now();
  expect(acks).toEqual(["cut"]);
});

test("an aggregator's lost state fails every running session still waiting for its query, acked once durable; sessions with that result whole are kept", async () => {
  const { relay, group, failures, logged } = await relayFor(["waiting", "partial", "whole", "other"]);
  const acks: string[] = [];
  // "partial" has q2's last chunk but not chunk 1; "whole" has all of q2; "other" has all of q1 only.
  relay.deliver(chunk("partial", "q2", 0, false, acks));
  relay.deliver(chunk("partial", "q2", 2, true, acks));
  relay.deliver(chunk("whole", "q2", 0, false, acks));
  relay.deliver(chunk("whole", "q2", 1, true, acks));
  relay.deliver(chunk("other", "q1", 0, true, acks));
  await group.now();
  acks.length = 0;
  const reason = "WAL_CORRUPT: wal-0000000000000001.log at offset 512: CRC mismatch";
  relay.deliver({ body: encodeMessage({ kind: "stateLost", query: "q2", reason }), redelivered: false, ack: () => acks.push("lost") > 0, nack: () => {} });
  const why = `PIPELINE_FAILED: the q2 aggregator lost this session's state (${reason}); the session was dropped, run it again`;
  expect(failures).toEqual([`waiting ${why}`, `partial ${why}`, `other ${why}`]);
  expect(logged).toContain(`the q2 aggregator lost its state (${reason}): 3 running session(s) still waiting for its result fail`);
  expect(acks).toEqual([]);
  await group.now();
  expect(acks).toEqual(["lost"]);
});

test("a chunk of another cut of a query's result (past its stored last, or a last before a stored chunk) fails the session, unstored, acked once durable", async () => {
  const { relay, store, group, logged, failures } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("s1", "q2", 0, false, acks));
  relay.deliver(chunk("s1", "q1", 3, false, acks));
  relay.deliver(chunk("s1", "q1", 5, true, acks));
  await group.now();
  acks.length = 0;
  relay.deliver(chunk("s1", "q2", 2, true, acks));
  relay.deliver(chunk("s1", "q1", 1, true, acks));
  relay.deliver(chunk("s1", "q1", 7, false, acks));
  expect(store.sessions.get("s1")?.chunks.map((c) => `${c.query}#${c.chunk}`)).toEqual(["q2#0", "q1#3", "q1#5", "q2#2"]);
  expect(logged).toEqual([
    "session s1: result chunk q1#1 (last) contradicts the stored chunk #3: two cuts of one result",
    "session s1: result chunk q1#7 contradicts the stored chunk #5 (last): two cuts of one result",
  ]);
  expect(failures).toEqual([
    "s1 PIPELINE_FAILED: result chunk q1#1 (last) contradicts the stored chunk #3: two cuts of one result; the session was dropped",
    "s1 PIPELINE_FAILED: result chunk q1#7 contradicts the stored chunk #5 (last): two cuts of one result; the session was dropped",
  ]);
  // q2#2 (last) contradicts nothing stored (q2 may yet end there): stored like any chunk.
  expect(acks).toEqual([]);
  await group.now();
  expect(acks).toEqual(["q2#2", "q1#1", "q1#7"]);
});

test("a result stored whole takes nothing from another cut: any chunk of it that comes again is dropped, not a failure", async () => {
  const { relay, store, group, logged, failures, counters } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("s1", "q1", 0, false, acks, "h\né1,2\n"));
  relay.deliver(chunk("s1", "q1", 1, true, acks, "é2,3\n"));
  await group.now();
  // A re-cut in other units: same chunk count, other boundaries; then one past the stored last.
  relay.deliver(chunk("s1", "q1", 0, false, acks, "h\n"));
  relay.deliver(chunk("s1", "q1", 1, true, acks, "é1,2\né2,3\n"));
  relay.deliver(chunk("s1", "q1", 2, true, acks, "x\n"));
  relay.deliver(chunk("s1", "q1", 1, true, acks, "é2,3\n"));
  await group.now();
  expect(failures).toEqual([]);
  expect(counters.duplicateChunks).toBe(4);
  expect(store.sessions.get("s1")?.chunks.map((c) => `${c.query}#${c.chunk}`)).toEqual(["q1#0", "q1#1"]);
  expect(logged).toEqual([0, 1, 2].map((n) => `session s1: result chunk q1#${n} of another cut dropped: this result is stored whole already`));
  expect(acks).toEqual(["q1#0", "q1#1", "q1#0", "q1#1", "q1#2", "q1#1"]);
});

test("a redelivered last chunk is a duplicate, not another cut", async () => {
  const { relay, group, logged, failures, counters } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("s1", "q2", 0, false, acks));
  relay.deliver(chunk("s1", "q2", 1, true, acks));
  await group.now();
  relay.deliver(chunk("s1", "q2", 1, true, acks));
  relay.deliver(chunk("s1", "q2", 0, false, acks));
  await group.now();
  expect(counters.duplicateChunks).toBe(2);
  expect(logged).toEqual([]);
  expect(failures).toEqual([]);
  expect(acks).toEqual(["q2#0", "q2#1", "q2#1", "q2#0"]);
});

test("a chunk that comes again with other text is another cut: the session fails, on disk or in memory; the same non-ASCII text again is a duplicate", async () => {
  for (const dir of [null, scratch("relay-")]) {
    // A file spool names its files after the session: a real id.
    const id = crypto.randomUUID();
    const { relay, store, group, logged, failures, counters } = await relayFor([id], dir);
    const acks: string[] = [];
    // An upgrade that read a cut in bytes as one in characters: chunk 0 ends a line earlier or later.
    relay.deliver(chunk(id, "q1", 0, false, acks, "é1,2\né2,3\n"));
    relay.deliver(chunk(id, "q1", 1, false, acks, "é3,4\n"));
    await group.now();
    relay.deliver(chunk(id, "q1", 0, false, acks, "é1,2\né2,3\n"));
    relay.deliver(chunk(id, "q1", 1, false, acks, "é3,5\n"));
    relay.deliver(chunk(id, "q1", 1, false, acks, "é3,4\né4,5\n"));
    expect(counters.duplicateChunks).toBe(1);
    expect(store.sessions.get(id)?.chunks.map((c) => `${c.query}#${c.chunk}`)).toEqual(["q1#0", "q1#1"]);
    const why = "result chunk q1#1 came again with other text than the copy stored: two cuts of one result";
    expect(logged).toEqual([`session ${id}: ${why}`, `session ${id}: ${why}`]);
    expect(failures).toEqual([`${id} PIPELINE_FAILED: ${why}; the session was dropped`, `${id} PIPELINE_FAILED: ${why}; the session was dropped`]);
    await group.now();
    expect(acks).toEqual(["q1#0", "q1#1", "q1#0", "q1#1", "q1#1"]);
    // No commit may come after the log closes.
    group.stop();
    await store.shutdown();
  }
});

test("a client that takes none of its results is failed as a session (CLIENT_TOO_SLOW, kept for its resume), not only cut off", async () => {
  const { relay, sessions, group, failures } = await relayFor(["s1"]);
  const s = sessions.get("s1")!;
  // A connection whose socket never has room: its client reads nothing.
  s.conn = { closed: false, writer: { hasRoom: false, written: 0, ready: () => new Promise<void>(() => {}) } } as unknown as Connection;
  // Resolves when the relay reports the session failed (after the pump's stall deadline: the relay's idleTimeoutMs, 1 s here).
  const failed = new Promise<void>((resolve) => {
    const push = failures.push.bind(failures);
    failures.push = (...items: string[]): number => {
      const n = push(...items);
      resolve();
      return n;
    };
  });
  relay.deliver(chunk("s1", "q1", 0, false, []));
  await group.now();
  await failed;
  expect(failures).toEqual(["s1 CLIENT_TOO_SLOW: client took none of its results for 1 s (1 chunk(s) waiting)"]);
});
