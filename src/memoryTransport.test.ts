import { expect, test } from "bun:test";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";
import { CoffeeError, InternalError } from "./errors.ts";
import { MAX_MESSAGE_BYTES, type Delivery } from "./transport.ts";
import { allQueues, PROBE_QUEUE } from "./topology.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Let every pending microtask (deliveries, pumps, woken publishers) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A transport over a fresh broker with queues a (k1), b (k1, k2), c (k2). */
async function setup(highWater?: number): Promise<{ broker: MemoryBroker; t: MemoryTransport }> {
  const broker = new MemoryBroker(highWater === undefined ? {} : { highWater });
  const t = new MemoryTransport(broker, "ns");
  await t.declare([
    { name: "a", bindings: ["k1"] },
    { name: "b", bindings: ["k1", "k2"] },
    { name: "c", bindings: ["k2"] },
  ]);
  return { broker, t };
}

test("a message reaches every queue bound to its routing key, and only those", async () => {
  const { broker, t } = await setup();
  await t.publish("k1", enc("one"));
  await t.publish("k2", enc("two"));
  await t.publish("unbound", enc("dropped"));
  expect([broker.depth("ns.a"), broker.depth("ns.b"), broker.depth("ns.c")]).toEqual([1, 2, 1]);
  const got: Record<string, string[]> = { a: [], b: [], c: [] };
  for (const name of ["a", "b", "c"] as const) {
    await t.consume(name, { prefetch: 10, concurrent: false }, (d) => {
      got[name]!.push(dec(d.body));
      d.ack();
    });
  }
  await settle();
  expect(got).toEqual({ a: ["one"], b: ["one", "two"], c: ["two"] });
  expect([broker.depth("ns.a"), broker.depth("ns.b"), broker.depth("ns.c")]).toEqual([0, 0, 0]);
  await t.close();
});

test("a queue with a maxLength keeps only its newest messages; 0 keeps none, and the publish still succeeds", async () => {
  const broker = new MemoryBroker();
  const t = new MemoryTransport(broker, "ns");
  await t.declare([{ name: "two", bindings: ["k"], maxLength: 2 }, { name: "none", bindings: ["k"], maxLength: 0 }, { name: "all", bindings: ["k"] }]);
  for (const body of ["1", "2", "3"]) await t.publish("k", enc(body));
  expect([broker.depth("ns.two"), broker.depth("ns.none"), broker.depth("ns.all")]).toEqual([2, 0, 3]);
  const got: string[] = [];
  await t.consume("two", { prefetch: 10, concurrent: false }, (d) => {
    got.push(dec(d.body));
    d.ack();
  });
  await settle();
  // drop-head, as RabbitMQ's x-overflow: the oldest went.
  expect(got).toEqual(["2", "3"]);
  await t.close();
});

test("no more than prefetch deliveries are unacked at once", async () => {
  const { broker, t } = await setup();
  for (let i = 0; i < 5; i++) await t.publish("k1", enc(`m${i}`));
  const held: Delivery[] = [];
  await t.consume("a", { prefetch: 2, concurrent: true }, (d) => {
    held.push(d);
  });
  await settle();
  expect(held.map((d) => dec(d.body))).toEqual(["m0", "m1"]);
  expect(broker.depth("ns.a")).toBe(3);
  held[0]!.ack();
  await settle();
  expect(held.map((d) => dec(d.body))).toEqual(["m0", "m1", "m2"]);
  held[1]!.ack();
  held[2]!.ack();
  await settle();
  expect(held.length).toBe(5);
  expect(broker.depth("ns.a")).toBe(0);
  await t.close();
});

test("a delivery nacked with requeue, or whose handler throws, comes again marked redelivered", async () => {
  const { t } = await setup();
  const seen: { body: string; redelivered: boolean }[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await t.consume("a", { prefetch: 1, concurrent: false }, (d) => {
    seen.push({ body: dec(d.body), redelivered: d.redelivered });
    if (seen.length === 1) return d.nack(true);
    if (seen.length === 2) throw new Error("handler failure");
    d.ack();
    done();
  });
  await t.publish("k1", enc("x"));
  await finished;
  expect(seen).toEqual([
    { body: "x", redelivered: false },
    { body: "x", redelivered: true },
    { body: "x", redelivered: true },
  ]);
  await t.close();
});

test("a delivery nacked without requeue is dropped", async () => {
  const { broker, t } = await setup();
  let deliveries = 0;
  await t.consume("a", { prefetch: 1, concurrent: false }, (d) => {
    deliveries++;
    d.nack(false);
  });
  await t.publish("k1", enc("x"));
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(deliveries).toBe(1);
  expect(broker.depth("ns.a")).toBe(0);
  await t.close();
});

test("publish waits at the high-water mark and resumes once a consumer takes a message", async () => {
  const { broker, t } = await setup(3);
  for (let i = 0; i < 3; i++) await t.publish("k1", enc(`m${i}`));
  expect(broker.depth("ns.a")).toBe(3);
  let published = false;
  const pending = t.publish("k1", enc("m3")).then(() => (published = true));
  await settle();
  expect(published).toBe(false);
  expect(broker.depth("ns.a")).toBe(3);
  expect(broker.hasRoom("ns.k1")).toBe(false);

  // Draining a alone is not enough: b is bound to k1 as well and is still full.
  const fromA: string[] = [];
  await t.consume("a", { prefetch: 10, concurrent: true }, (d) => {
    fromA.push(dec(d.body));
  });
  await settle();
  expect(fromA).toEqual(["m0", "m1", "m2"]);
  expect(published).toBe(false);
  expect(broker.depth("ns.a")).toBe(0);

  // One message taken from b (and left unacked: in-flight ones do not count) lets it through.
  const fromB: string[] = [];
  await t.consume("b", { prefetch: 1, concurrent: true }, (d) => {
    fromB.push(dec(d.body));
  });
  await pending;
  expect(published).toBe(true);
  expect(broker.depth("ns.b")).toBe(3);
  await settle();
  expect(fromA).toEqual(["m0", "m1", "m2", "m3"]);
  expect(fromB).toEqual(["m0"]);
  // b holds 3 ready messages again (m0 stays unacked in flight): the next publish on k1 waits.
  let again = false;
  void t.publish("k1", enc("m4")).then(() => (again = true));
  await settle();
  expect(again).toBe(false);
  await t.close();
});

test("publishes that wait keep their call order", async () => {
  const { broker, t } = await setup(2);
  const order: string[] = [];
  const all = ["k1", "k2", "k1", "k2", "k1", "k1"].map((k, i) => t.publish(k, enc(`${k}:${i}`)).then(() => order.push(`${k}:${i}`)));
  await settle();
  expect(order).toEqual(["k1:0", "k2:1"]);
  const got: string[] = [];
  for (const name of ["a", "b", "c"] as const) {
    await t.consume(name, { prefetch: 1, concurrent: false }, (d) => {
      if (name === "b") got.push(dec(d.body));
      d.ack();
    });
  }
  await Promise.all(all);
  await settle();
  expect(order).toEqual(["k1:0", "k2:1", "k1:2", "k2:3", "k1:4", "k1:5"]);
  expect(got).toEqual(order);
  expect(broker.depth("ns.b")).toBe(0);
  await t.close();
});

test("a handler that throws forever does not starve timers", async () => {
  const errors: unknown[] = [];
  const broker = new MemoryBroker();
  const t = new MemoryTransport(broker, "ns", (err) => errors.push(err));
  await t.declare([{ name: "a", bindings: ["k"] }]);
  let attempts = 0;
  const consumer = await t.consume("a", { prefetch: 4, concurrent: true }, () => {
    attempts++;
    throw new Error("always fails");
  });
  await t.publish("k", enc("poison"));
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`timer fired after ${(performance.now() - started).toFixed(1)} ms; ${attempts} delivery attempts meanwhile`);
  expect(attempts).toBeGreaterThanOrEqual(1);
  expect(errors.length).toBe(attempts);
  await consumer.cancel();
  await t.close();
});

test("highWater must be a positive integer", () => {
  expect(() => new MemoryBroker({ highWater: 0 })).toThrow(InternalError);
  expect(new MemoryBroker().highWater).toBe(1000);
});

test("a message over the broker's size limit is refused, as the AMQP transport refuses it", async () => {
  const t = new MemoryTransport(new MemoryBroker(), "big");
  await t.declare([{ name: "big", bindings: ["big"] }]);
  const err = await t.publish("big", new Uint8Array(MAX_MESSAGE_BYTES + 1)).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CoffeeError);
  expect((err as CoffeeError).code).toBe("LIMIT_EXCEEDED");
  await t.publish("big", new Uint8Array(MAX_MESSAGE_BYTES));
  await t.close();
});

test("queues only quorum queues need (the broker probe's) are not declared, as on classic AMQP queues", async () => {
  const t = new MemoryTransport(new MemoryBroker(), "quorum-only");
  await t.declare(allQueues());
  const names = (await t.queueDepths()).map((q) => q.queue);
  expect(names).not.toContain(PROBE_QUEUE);
  expect(names).toContain("results");
});
