/**
 * Poison messages: a message a stage can never process (it does not decode, or the operator
 * throws on it) fails its session instead of being requeued forever or dropped with its session
 * left waiting. Real worker in-process on a scripted transport, and a whole in-process cluster
 * with a real gateway connection that is told PIPELINE_FAILED.
 */
import { afterEach, expect, mock, setDefaultTimeout, spyOn, test } from "bun:test";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { createAggregator } from "../roles/aggregator.ts";
import { createWorker, workUnitFrom } from "../roles/worker.ts";
import { decodeMessage, encodeMessage, sessionOfUndecodable } from "../src/codec.ts";
import { CoffeeError } from "../src/errors.ts";
import { startInProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { REDUCERS } from "../src/queries/index.ts";
import { dataKey, RESULTS_KEY } from "../src/topology.ts";
import type { Delivery, Transport } from "../src/transport.ts";
import type { WorkUnit } from "../src/workUnit.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { frame, openRaw } from "./rawGateway.ts";

setDefaultTimeout(30_000);
// Spies on the shared reducers are undone after each test, whatever it asserted.
afterEach(() => { mock.restore(); });

const QUIET = { info() {}, warn() {}, error() {} };

/** A valid message's bytes with its body cut short: the envelope still names the session. */
function truncated(session: string): Uint8Array {
  const whole = encodeMessage(q1TransactionsBatch(session, 10));
  // The session id sits right after the prefix and the array header; the body is what is lost.
  return whole.subarray(0, whole.length - 40);
}

/**
 * A transport that delivers `bodies` once each; what the role published and how it settled each.
 * `refuse` names routing keys whose publishes the broker refuses as too large.
 */
function scripted(bodies: Uint8Array[], refuse: (key: string) => boolean = () => false): { transport: Transport; handled: Promise<void>; published: [string, Uint8Array][]; settled: string[] } {
  const published: [string, Uint8Array][] = [];
  const settled: string[] = [];
  const { promise: handled, resolve: allHandled } = Promise.withResolvers<void>();
  const transport: Transport = {
    declare: async () => {},
    close: async () => {},
    publish: async (key, body) => {
      if (refuse(key)) throw new CoffeeError("LIMIT_EXCEEDED", `a message of ${body.length} bytes to ${key} exceeds the broker's message size limit`);
      published.push([key, body]);
    },
    consume: async (_queue, _options, handler) => {
      // A requeued delivery comes back, marked redelivered, as the broker gives it again.
      const queue = bodies.map((body) => ({ body, redelivered: false }));
      // Bounded, so a requeue loop (the bug these tests guard against) ends and shows in `settled`.
      let deliveries = 0;
      for (let next = queue.shift(); next && deliveries++ < 50; next = queue.shift()) {
        const { body, redelivered } = next;
        const d: Delivery = {
          body, redelivered, ack: () => settled.push("ack") > 0,
          nack: (requeue) => { settled.push(requeue ? "requeue" : "drop"); if (requeue) queue.push({ body, redelivered: true }); },
        };
        // What the dispatcher does with a handler that throws: nack and requeue.
        await Promise.resolve(handler(d)).catch(() => d.nack(true));
      }
      allHandled();
      return { cancel: async () => {} };
    },
  };
  return { transport, handled, published, settled };
}

/** Run a q1 aggregator (in memory) over `bodies`. */
async function runAggregator(bodies: Uint8Array[]): Promise<{ published: [string, Uint8Array][]; settled: string[]; status: Record<string, unknown> }> {
  const { transport, handled, published, settled } = scripted(bodies);
  const aggregator = await createAggregator({ query: "q1", prefetch: 1, chunkBytes: 65_536, stateDir: null }, transport, QUIET);
  const running = aggregator.run();
  await handled;
  await aggregator.shutdown();
  await running;
  return { published, settled, status: aggregator.status() };
}

/** Run a worker on `unit` over `bodies`, delivered once each. */
async function runWorker(unit: WorkUnit, bodies: Uint8Array[], refuse?: (key: string) => boolean): Promise<{ published: [string, Uint8Array][]; settled: string[] }> {
  const { transport, handled, published, settled } = scripted(bodies, refuse);
  const worker = await createWorker({ unit, prefetch: 1 }, transport, QUIET);
  const running = worker.run();
  await handled;
  await worker.shutdown();
  await running;
  return { published, settled };
}

test("the session of a message that does not decode is read from its envelope when it is still there", () => {
  expect(() => decodeMessage(truncated("sess-1"))).toThrow();
  expect(sessionOfUndecodable(truncated("sess-1"))).toBe("sess-1");
  expect(sessionOfUndecodable(Uint8Array.from([0xcf, 2, 1, 0xc1, 0xc1]))).toBeNull();
  expect(sessionOfUndecodable(new TextEncoder().encode("not ours at all"))).toBeNull();
});

test("a worker fails the session of an undecodable message at once and acks it; one naming no session is acked and dropped", async () => {
  const { published, settled } = await runWorker(workUnitFrom("filter-amount", undefined), [truncated("sess-2"), Uint8Array.from([1, 2, 3, 4, 5])]);
  expect(settled).toEqual(["ack", "ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-2", reason: expect.stringMatching(/^filter-amount: a message could not be decoded: malformed broker message/) }],
  ]);
});

test("an aggregator fails the session of an undecodable message and acks it", async () => {
  const { published, settled } = await runAggregator([truncated("sess-4")]);
  expect(settled).toEqual(["ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-4", reason: expect.stringMatching(/^agg-q1: a message could not be decoded/) }],
  ]);
});

test("an operator that throws on a batch is tried once more, then fails its session, instead of a requeue loop", async () => {
  const real = workUnitFrom("filter-amount", undefined);
  let calls = 0;
  const throwing: WorkUnit = { ...real, run: () => { calls++; throw new RangeError("offset out of bounds"); } };
  const { published, settled } = await runWorker(throwing, [encodeMessage(q1TransactionsBatch("sess-3", 10))]);
  expect(calls).toBe(2);
  expect(settled).toEqual(["ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-3", reason: "filter-amount: transactions batch #0 could not be processed: offset out of bounds" }],
  ]);
});

test("a poison message in the pipeline ends its client's session with PIPELINE_FAILED, at once", async () => {
  const broker = new MemoryBroker();
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), new Map(), () => new MemoryTransport(broker, "poison"), true);
  const outsider = new MemoryTransport(broker, "poison");
  try {
    const conn = await openRaw(cluster.gatewayPort());
    conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    const welcome = await conn.next("welcome");
    if (welcome.t !== "welcome") throw new Error(`expected a welcome, got ${welcome.t}`);
    // Published where the gateway's own batches go: the transactions chain takes it first.
    await outsider.publish(dataKey("transactions"), truncated(welcome.session));
    const error = await conn.next("done");
    expect(error).toMatchObject({ t: "error", code: "PIPELINE_FAILED" });
    expect((error as { message: string }).message).toContain("a message could not be decoded");
    await conn.closed;
    const gateway = cluster.roles.find((r) => r.role === "gateway")!.instance;
    expect(gateway.status()).toMatchObject({ sessions: 0, sessionsPurged: 1 });
  } finally {
    await outsider.close();
    await cluster.shutdown();
  }
});

test("an operator that threw once and not on the redelivery (the process, not the batch) fails nothing", async () => {
  const real = workUnitFrom("filter-amount", undefined);
  let calls = 0;
  const flaky: WorkUnit = { ...real, run: (body, observe) => { if (calls++ === 0) throw new RangeError("Out of memory"); return real.run(body, observe); } };
  const { published, settled } = await runWorker(flaky, [encodeMessage(q1TransactionsBatch("sess-5", 10))]);
  expect(settled).toEqual(["ack"]);
  expect(published.map(([key]) => key)).toEqual(["filter-amount.out"]);
  expect(published.map(([, body]) => decodeMessage(body).kind)).not.toContain("failed");
});

test("a reducer that throws fails its session at once: a second try would count what it applied twice", async () => {
  spyOn(REDUCERS.q1, "apply").mockImplementation(() => { throw new RangeError("Out of memory"); });
  const { published, settled, status } = await runAggregator([encodeMessage(q1TransactionsBatch("sess-6", 10))]);
  expect(settled).toEqual(["ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-6", reason: "agg-q1: transactions batch #0 could not be applied: Out of memory" }],
  ]);
  expect(status).toMatchObject({ failedSessions: 1 });
});

test("a result that cannot be produced fails its session once, instead of requeuing the completing message forever", async () => {
  // What a spilled run that no longer reads back does to Q1's finish, on every try.
  let tries = 0;
  spyOn(REDUCERS.q1, "finish").mockImplementation(() => { tries++; throw new Error("run file ends inside a row"); });
  const batch = encodeMessage(q1TransactionsBatch("sess-7", 10));
  const eos = encodeMessage({ kind: "eos", session: "sess-7", entity: "transactions", count: 1 });
  // The batch again after the end: a redelivered duplicate must not compute and fail it again.
  const { published, settled, status } = await runAggregator([batch, eos, batch]);
  expect(tries).toBe(2);
  expect(settled).toEqual(["ack", "ack", "ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-7", reason: "agg-q1: its result could not be produced: run file ends inside a row" }],
  ]);
  expect(status).toMatchObject({ failedSessions: 1 });
});

test("a result that failed once (the process, not the data) is published on the second try", async () => {
  const real = REDUCERS.q1.finish.bind(REDUCERS.q1);
  let tries = 0;
  spyOn(REDUCERS.q1, "finish").mockImplementation((state) => { if (tries++ === 0) throw new RangeError("Out of memory"); return real(state); });
  const eos = encodeMessage({ kind: "eos", session: "sess-9", entity: "transactions", count: 1 });
  const { published, settled, status } = await runAggregator([encodeMessage(q1TransactionsBatch("sess-9", 10)), eos]);
  expect(settled).toEqual(["ack", "ack"]);
  const kinds = published.map(([, body]) => decodeMessage(body).kind);
  expect(kinds).not.toContain("failed");
  expect(kinds.at(-1)).toBe("result");
  expect(status).toMatchObject({ failedSessions: 0 });
});

test("a worker whose output the broker refuses as too large fails its session once, instead of a requeue loop", async () => {
  const { published, settled } = await runWorker(workUnitFrom("filter-amount", undefined), [encodeMessage(q1TransactionsBatch("sess-8", 10))], (key) => key !== RESULTS_KEY);
  expect(settled).toEqual(["ack"]);
  expect(published.map(([key, body]) => [key, decodeMessage(body)])).toEqual([
    [RESULTS_KEY, { kind: "failed", session: "sess-8", reason: expect.stringMatching(/^filter-amount: transactions batch #0 could not be passed on: a message of \d+ bytes to filter-amount.out exceeds/) }],
  ]);
});
