import { expect, test } from "bun:test";
import { encodeMessage } from "./codec.ts";
import { newSession, type Session } from "./gatewaySession.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import { CoffeeMetrics } from "./metrics.ts";
import { ResultRelay } from "./resultRelay.ts";
import type { Delivery } from "./transport.ts";

/** A delivery of one result chunk that records its acks. */
function chunk(session: string, query: "q1" | "q2", n: number, last: boolean, acks: string[]): Delivery {
  const body = encodeMessage({ kind: "result", session, query, chunk: n, last, csv: `${query} chunk ${n}\n` });
  return { body, redelivered: false, ack: () => acks.push(`${query}#${n}`) > 0, nack: () => {} };
}

async function relayFor(sessionIds: string[]) {
  const store = await GatewayStore.open(null);
  const group = new GroupCommit(() => store.commit(), (err) => { throw err; });
  const sessions = new Map<string, Session>();
  const counters = { duplicateChunks: 0 };
  const finishChecks: string[] = [];
  const logged: string[] = [];
  const log: Logger = { info: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) };
  const relay: ResultRelay = new ResultRelay({
    store, group, counters, log, metrics: new CoffeeMetrics({ role: "gateway", name: "gateway" }),
    idleTimeoutMs: 1000, send: () => {}, fail: () => {}, storageFailed: (err) => { throw err; },
    maybeFinish: (s) => void finishChecks.push(s.id),
    running: (id) => sessions.get(id), known: (id) => sessions.get(id),
  });
  for (const id of sessionIds) {
    sessions.set(id, newSession(id, relay.newPump(id)));
    store.open(id);
  }
  await group.now();
  return { relay, store, group, counters, finishChecks, logged };
}

test("a chunk is acked only once stored durably, and a redelivered one is stored once", async () => {
  const { relay, store, group, counters, finishChecks } = await relayFor(["s1"]);
  const acks: string[] = [];
  relay.deliver(chunk("s1", "q1", 0, false, acks));
  expect(acks).toEqual([]);
  await group.now();
  expect(acks).toEqual(["q1#0"]);
  relay.deliver(chunk("s1", "q1", 0, false, acks));
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
