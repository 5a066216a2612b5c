/**
 * --max-in-flight is what the gateway tells clients and what it holds them to: new batches not
 * yet acknowledged count, resends after a resume do not (the client sends them before it reads
 * the acks already on their way); rows are counted once however often a batch is sent; a client
 * waiting on the broker's confirms is not idle (real
 * gateway in-process, real TCP; a memory broker whose batch confirms the test releases).
 */
import { afterAll, expect, test } from "bun:test";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { ENTITY_COLUMNS } from "../src/schema.ts";
import { packColumn } from "../src/textColumn.ts";
import { allQueues, dataKey } from "../src/topology.ts";
import { interceptPublishes } from "./interceptedTransport.ts";
import type { Transport } from "../src/transport.ts";
import { frame, openRaw, raw, type RawConnection } from "./rawGateway.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const MAX_IN_FLIGHT = 3;

/** A one-row stores batch (its cells need not parse: rejected rows are published too). */
const storesBatch = (seq: number): Uint8Array =>
  frame({ t: "batch", entity: "stores", seq, lines: Uint32Array.of(seq + 2), columns: ENTITY_COLUMNS.stores.map(() => packColumn(["1"])) });

/** Batch publishes wait here until the test confirms them; everything else goes through. */
const held: { confirm: () => void }[] = [];
let heldChanged: () => void = () => {};
/** Resolves once `count` batch publishes have been held in all. */
async function heldReaches(count: number): Promise<void> {
  while (held.length < count) await new Promise<void>((r) => (heldChanged = r));
}
/** A transport on a namespace of its own whose stores batches are held until the test confirms them. */
async function holdingTransport(namespace: string): Promise<Transport> {
  const base = new MemoryTransport(new MemoryBroker(), namespace);
  await base.declare(allQueues());
  return interceptPublishes(base, dataKey("stores"), () => new Promise<void>((resolve) => {
    held.push({ confirm: resolve });
    heldChanged();
  }));
}
const transport = await holdingTransport("inflight");
const gateway = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxInFlight: MAX_IN_FLIGHT }), transport, quiet);
void gateway.run();
const port = await gateway.listening;
afterAll(() => gateway.shutdown());

/** Rows the gateway has counted in, over all sessions. */
const rowsIn = (): number => Number(gateway.status().rowsIn);

/** A new connection with a new session (to the gateway at `at`): the connection and the session's id. */
async function startSession(at = port): Promise<{ conn: RawConnection; session: string }> {
  const conn = await openRaw(at);
  conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
  const welcome = await conn.next("welcome");
  return { conn, session: welcome.t === "welcome" ? welcome.session : "" };
}

/** Resolves once `conn` has received acks for `count` distinct batches. */
async function acksOfDistinctBatches(conn: RawConnection, count: number): Promise<void> {
  const acked = new Set<number>();
  while (acked.size < count) {
    const ack = await conn.next("ack");
    if (ack.t === "ack") acked.add(ack.seq);
  }
}

test(`the welcome says ${MAX_IN_FLIGHT} in flight, and batch ${MAX_IN_FLIGHT + 1} unacknowledged ends the connection`, async () => {
  const before = held.length;
  const replies = await raw(port, [frame({ t: "hello", v: PROTOCOL_VERSION })], (m) =>
    m.t === "welcome" ? Array.from({ length: MAX_IN_FLIGHT + 1 }, (_, seq) => storesBatch(seq)) : []);
  expect(replies[0]).toMatchObject({ t: "welcome", maxInFlight: MAX_IN_FLIGHT });
  expect(replies.at(-1)).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION", message: `more than ${MAX_IN_FLIGHT} unacknowledged batches` });
  // The batches within the limit were published (and are held unconfirmed); the one over it was not.
  expect(held.length - before).toBe(MAX_IN_FLIGHT);
});

/** A session with batches 0..N-1 sent and held unconfirmed on a first connection, resumed on a second. */
async function resumedWithBatchesInFlight(): Promise<{ second: RawConnection; start: number }> {
  const { conn: first, session } = await startSession();
  const start = held.length;
  for (let seq = 0; seq < MAX_IN_FLIGHT; seq++) first.send(storesBatch(seq));
  await heldReaches(start + MAX_IN_FLIGHT);
  first.end();
  const second = await openRaw(port);
  second.send(frame({ t: "resume", v: PROTOCOL_VERSION, session, sent: { stores: MAX_IN_FLIGHT }, eos: [] }));
  expect(await second.next("welcome")).toMatchObject({ t: "welcome", session, resumed: true });
  return { second, start };
}

const overLimit = { t: "error", code: "PROTOCOL_VIOLATION", message: `more than ${MAX_IN_FLIGHT} unacknowledged batches` };

test("after a resume, resends before the old copies' confirms: a freed place is the client's to use, and the limit holds", async () => {
  const { second, start } = await resumedWithBatchesInFlight();
  // The client sends again everything it saw no ack for: the same batches.
  for (let seq = 0; seq < MAX_IN_FLIGHT; seq++) second.send(storesBatch(seq));
  second.send(frame({ t: "resent" }));
  await heldReaches(start + 2 * MAX_IN_FLIGHT);
  // The first connection's copy of batch 0 is confirmed: its ack reaches the client on the new
  // connection, so the client has room for one more batch, and the gateway must agree.
  held[start]!.confirm();
  expect(await second.next("ack")).toMatchObject({ t: "ack", entity: "stores", seq: 0 });
  second.send(storesBatch(MAX_IN_FLIGHT));
  await heldReaches(start + 2 * MAX_IN_FLIGHT + 1);
  // Batches 1..N-1 and N are unacknowledged: one more is over the limit.
  second.send(storesBatch(MAX_IN_FLIGHT + 1));
  expect(await second.next("error")).toMatchObject(overLimit);
});

test("after a resume, an old copy confirmed before the resends arrive: the client's next batch is still accepted", async () => {
  const { second, start } = await resumedWithBatchesInFlight();
  // Batch 0's old copy is confirmed right after the welcome; the client has already sent its
  // resends (batch 0 among them) when it reads that ack, and then uses the freed place.
  held[start]!.confirm();
  for (let seq = 0; seq < MAX_IN_FLIGHT; seq++) second.send(storesBatch(seq));
  second.send(frame({ t: "resent" }));
  expect(await second.next("ack")).toMatchObject({ t: "ack", entity: "stores", seq: 0 });
  second.send(storesBatch(MAX_IN_FLIGHT));
  await heldReaches(start + 2 * MAX_IN_FLIGHT + 1);
  // The resend of batch 0 is confirmed: acked again (the client ignores it), no place gained.
  held[start + MAX_IN_FLIGHT]!.confirm();
  expect(await second.next("ack")).toMatchObject({ t: "ack", entity: "stores", seq: 0 });
  second.send(storesBatch(MAX_IN_FLIGHT + 1));
  expect(await second.next("error")).toMatchObject(overLimit);
});

test("a batch lost on the way is counted when its resend arrives, one received before is not; resends outside a resume are refused", async () => {
  const before = rowsIn();
  const { conn: first, session } = await startSession();
  const start = held.length;
  first.send(storesBatch(0));
  await heldReaches(start + 1);
  first.end();
  // The client had also sent batch 1, which the gateway never read: it resends both.
  const second = await openRaw(port);
  second.send(frame({ t: "resume", v: PROTOCOL_VERSION, session, sent: { stores: 2 }, eos: [] }));
  expect(await second.next("welcome")).toMatchObject({ resumed: true });
  second.send(storesBatch(0));
  second.send(storesBatch(1));
  second.send(frame({ t: "resent" }));
  await heldReaches(start + 3);
  for (const h of held.slice(start)) h.confirm();
  await acksOfDistinctBatches(second, 2);
  // One row each for batches 0 and 1, although batch 0 came twice.
  expect(rowsIn() - before).toBe(2);
  second.send(storesBatch(1));
  expect(await second.next("error")).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION", message: "batch stores#1 sent again outside a resume" });
});

test("a new batch between a resume and its resent is refused: it would be read twice and counted twice", async () => {
  const { second, start } = await resumedWithBatchesInFlight();
  second.send(storesBatch(0));
  second.send(storesBatch(MAX_IN_FLIGHT));
  expect(await second.next("error")).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION", message: `new batch stores#${MAX_IN_FLIGHT} before the resends of a resume were done` });
  // The resend before it was published; the new batch was not.
  expect(held.length - start).toBe(MAX_IN_FLIGHT + 1);
});

test("a batch lost on two connections in a row is counted once, when a resend finally arrives", async () => {
  const before = rowsIn();
  const { conn: a, session } = await startSession();
  const start = held.length;
  // The client sent batches 0..2; the gateway read only batch 0 before the connection dropped.
  a.send(storesBatch(0));
  await heldReaches(start + 1);
  a.end();
  const resume = frame({ t: "resume", v: PROTOCOL_VERSION, session, sent: { stores: 3 }, eos: [] });
  // The second connection carries only the resend of batch 0 before it drops too.
  const b = await openRaw(port);
  b.send(resume);
  expect(await b.next("welcome")).toMatchObject({ resumed: true });
  b.send(storesBatch(0));
  await heldReaches(start + 2);
  b.end();
  const c = await openRaw(port);
  c.send(resume);
  expect(await c.next("welcome")).toMatchObject({ resumed: true });
  for (let seq = 0; seq < 3; seq++) c.send(storesBatch(seq));
  c.send(frame({ t: "resent" }));
  await heldReaches(start + 5);
  for (const h of held.slice(start)) h.confirm();
  await acksOfDistinctBatches(c, 3);
  // Batch 0 came three times, 1 and 2 once: three rows in, three acknowledged.
  expect(rowsIn() - before).toBe(3);
  const listed = gateway.status().openSessions as { id: string; rows: Record<string, number> }[];
  expect(listed.find((s) => session.startsWith(s.id))?.rows.stores).toBe(3);
  c.end();
});

test("a client whose window waits on the broker's confirms is not idle; one that sends nothing is", async () => {
  const idleMs = 150;
  // A namespace of its own: one gateway per namespace consumes the results.
  const strict = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxInFlight: MAX_IN_FLIGHT, idleTimeoutMs: idleMs }), await holdingTransport("inflight-strict"), quiet);
  void strict.run();
  const strictPort = await strict.listening;
  try {
    // The waiting client fills its window, and the broker confirms none of it.
    const { conn: waiting } = await startSession(strictPort);
    const start = held.length;
    for (let seq = 0; seq < MAX_IN_FLIGHT; seq++) waiting.send(storesBatch(seq));
    await heldReaches(start + MAX_IN_FLIGHT);
    // Another client, later, sends nothing at all: by the time it is dropped as idle, the
    // waiting one has been silent longer, and must still be connected.
    const { conn: silent } = await startSession(strictPort);
    expect(await silent.next("error")).toMatchObject({ t: "error", code: "CLIENT_IDLE" });
    expect(waiting.seen.filter((m) => m.t === "error")).toEqual([]);
    for (const h of held.slice(start)) h.confirm();
    expect(await waiting.next("ack")).toMatchObject({ t: "ack", entity: "stores", seq: 0 });
    waiting.end();
  } finally {
    await strict.shutdown();
  }
});
