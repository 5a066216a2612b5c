/**
 * The broker goes away and comes back (a private RabbitMQ node restarted on its own port and
 * data directory; the shared broker is never touched): no role exits, unconfirmed publishes are
 * retried, consumers resume, and every session's results stay exact.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { AmqpTransport, type AmqpOptions, type BrokerEvent } from "../src/amqpTransport.ts";
import { CoffeeError, errorMessage } from "../src/errors.ts";
import { connectBroker } from "../src/brokerAddress.ts";
import { acquireNamespaceLock, lockConnectionName, type NamespaceLock, type NamespaceLockEvent } from "../src/namespaceLock.ts";
import { startPrivateBroker, type PrivateBroker } from "../src/privateBroker.ts";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { GatewayMessage } from "../src/protocol.ts";
import { allQueues } from "../src/topology.ts";
import { holdNextChannelCall, type HeldChannelCall } from "./heldChannelCall.ts";
import { emptyUpload, heldHeartbeats, openRaw } from "./rawGateway.ts";
import { generate, readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir } from "./harness.ts";

setDefaultTimeout(240_000);

const installed = Bun.which("rabbitmq-server") !== null;

describe.if(installed)("broker restarts (private rabbitmq-server)", () => {
  let broker: PrivateBroker;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("broker");
    broker = await startPrivateBroker(join(dir, "rabbitmq"), () => {});
  });

  afterAll(() => {
    broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A transport on the private broker in namespace `namespace`, quick to reconnect; `handlers` to watch it. */
  const openTransport = (namespace: string, handlers: Partial<Pick<AmqpOptions, "onEvent" | "onError" | "confirmTimeoutMs" | "connectionName" | "reconnectInitialMs" | "reconnectMaxMs">> = {}): Promise<AmqpTransport> =>
    AmqpTransport.open({
      broker: { url: broker.url }, queueType: "classic", namespace, maxUnconfirmed: 64, reconnectInitialMs: 100, reconnectMaxMs: 1000,
      onEvent: () => {}, onError: () => {}, ...handlers,
    });

  test("transport: publishes across a restart are all confirmed and all consumed", async () => {
    const events: BrokerEvent["type"][] = [];
    const t = await openTransport("rt", { onEvent: (e) => events.push(e.type) });
    await t.declare([{ name: "q", bindings: ["k"] }]);
    const seen = new Set<number>();
    const { promise: done, resolve: allSeen } = Promise.withResolvers<void>();
    await t.consume("q", { prefetch: 16, concurrent: false }, (d) => {
      seen.add(new DataView(d.body.buffer, d.body.byteOffset).getUint32(0));
      d.ack();
      if (seen.size === 400) allSeen();
    });
    const msg = (i: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, i); return b; };
    const first = Array.from({ length: 200 }, (_, i) => t.publish("k", msg(i)));
    await Promise.all(first.slice(0, 50));
    const restarted = broker.restart();
    const second = Array.from({ length: 200 }, (_, i) => t.publish("k", msg(200 + i)));
    await restarted;
    await Promise.all([...first, ...second]);
    await done;
    expect(seen.size).toBe(400);
    expect(events).toContain("disconnected");
    expect(events.at(-1)).toBe("connected");
    await t.close();
  });

  test("transport: its connections carry its owner's name, and a connection an operator closes is lost for the reason the broker gave", async () => {
    const events: BrokerEvent[] = [];
    const errors: string[] = [];
    let connected = (): void => {};
    const t = await openTransport("named", {
      connectionName: "agg-q9",
      onEvent: (e) => { events.push(e); if (e.type === "connected") connected(); },
      onError: (e) => errors.push(String(e)),
    });
    await t.declare([{ name: "q", bindings: ["k"] }]);
    await t.consume("q", { prefetch: 4, concurrent: false }, (d) => void d.ack());
    const named = broker.ctl(["list_connections", "pid", "client_properties"]).split("\n").filter((l) => l.includes("coffee agg-q9 ("));
    expect(named.map((l) => /coffee agg-q9 \((\w+)\)/.exec(l)?.[1]).sort()).toEqual(["consume", "publish"]);
    const publishing = named.find((l) => l.includes("(publish)"))!.split("\t")[0]!;
    const reconnected = new Promise<void>((r) => (connected = r));
    const watching = events.length;
    broker.ctl(["close_connection", publishing, "rotating credentials"]);
    await reconnected;
    const lost = events.slice(watching).find((e) => e.type === "disconnected");
    expect(lost).toMatchObject({ type: "disconnected", reason: expect.stringContaining("CONNECTION_FORCED - rotating credentials") });
    // Lost for that reason, not for a channel that closed with it.
    expect(errors.filter((e) => e.includes("channel closed"))).toEqual([]);
    await t.publish("k", Uint8Array.of(1));
    await t.close();
  });

  for (const queueType of ["classic", "quorum"] as const) {
    test(`transport (${queueType} queues): an exclusive consumer holds its queue alone; a holder that lost it in a reconnect keeps publishing, and takes it back once free`, async () => {
      const namespace = `excl-${queueType}`;
      let aConnected = (): void => {};
      const open = (name: string, events: BrokerEvent["type"][], reconnectInitialMs = 100): Promise<AmqpTransport> => AmqpTransport.open({
        broker: { url: broker.url }, queueType, namespace, maxUnconfirmed: 64, reconnectInitialMs, reconnectMaxMs: Math.max(1000, reconnectInitialMs),
        connectionName: name, onError: () => {},
        onEvent: (e) => { events.push(e.type); if (e.type === "connected" && name === "holder-a") aConnected(); },
      });
      const aEvents: BrokerEvent["type"][] = [];
      // A reconnects slowly (its first attempt 1-2 s after a loss): B takes the queue meanwhile.
      const a = await open("holder-a", aEvents, 2000);
      const b = await open("holder-b", []);
      try {
        await a.declare([{ name: "r", bindings: ["r"] }]);
        const toA: string[] = [];
        let aGot = (): void => {};
        const consume = (t: AmqpTransport, into: string[], seen: () => void) => t.consume("r", { prefetch: 4, concurrent: false, exclusive: true }, (d) => {
          into.push(new TextDecoder().decode(d.body));
          d.ack();
          seen();
        });
        await consume(a, toA, () => aGot());
        // Refused on either queue type (basic.consume's flag alone is not enforced on quorum queues).
        await expect(consume(b, [], () => {})).rejects.toMatchObject({ code: "QUEUE_IN_USE" });
        const aBack = new Promise<void>((r) => (aConnected = r));
        const consumeConn = broker.ctl(["list_connections", "pid", "client_properties"]).split("\n").find((l) => l.includes("coffee holder-a (consume)"))!.split("\t")[0]!;
        broker.ctl(["close_connection", consumeConn, "test"]);
        // B asks until A's connection is gone, and gets the queue.
        const toB: string[] = [];
        let bGot = (): void => {};
        let taken: Awaited<ReturnType<typeof consume>> | null = null;
        while (taken === null) taken = await consume(b, toB, () => bGot()).catch(() => null);
        // A comes back without it, and publishes all the same.
        await aBack;
        expect(aEvents).toContain("consumer-refused");
        const bSaw = new Promise<void>((r) => (bGot = r));
        await a.publish("r", new TextEncoder().encode("while B holds it"));
        await bSaw;
        expect(toB).toEqual(["while B holds it"]);
        // Free again: A takes it back by itself.
        await taken.cancel();
        const aSaw = new Promise<void>((r) => (aGot = r));
        // Kept in the queue until A's background retry consumes it again.
        await b.publish("r", new TextEncoder().encode("after"));
        await aSaw;
        expect(toA).toEqual(["after"]);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  test("transport: a consume() while a reconnect resubscribes the consumers subscribes once: no second channel whose deliveries no one settles", async () => {
    const namespace = "resub";
    let consumeNow = (): void => {};
    const a = await openTransport(namespace, {
      reconnectInitialMs: 2000, reconnectMaxMs: 2000, connectionName: "resub-a",
      // Said while the reconnect goes through A's consumers (after the link is up, before it is done with them).
      onEvent: (e) => { if (e.type === "consumer-refused") consumeNow(); },
    });
    const b = await openTransport(namespace, { connectionName: "resub-b" });
    try {
      await a.declare([{ name: "r", bindings: ["r"] }, { name: "s", bindings: ["s"] }]);
      await a.consume("r", { prefetch: 4, concurrent: false, exclusive: true }, (d) => void d.ack());
      const handled: string[] = [];
      let allHandled = (): void => {};
      const consumed = new Promise<Awaited<ReturnType<AmqpTransport["consume"]>>>((resolve, reject) => {
        consumeNow = () => void a.consume("s", { prefetch: 1, concurrent: false }, (d) => {
          handled.push(new TextDecoder().decode(d.body));
          d.ack();
          if (handled.length === 6) allHandled();
        }).then(resolve, reject);
      });
      // A loses its consuming connection; B takes "r" before A is back, so A's resubscription of
      // "r" is refused, and A consumes "s" right then.
      const consumeConn = broker.ctl(["list_connections", "pid", "client_properties"]).split("\n").find((l) => l.includes("coffee resub-a (consume)"))!.split("\t")[0]!;
      broker.ctl(["close_connection", consumeConn, "test"]);
      let taken = null;
      while (taken === null) taken = await b.consume("r", { prefetch: 4, concurrent: false, exclusive: true }, (d) => void d.ack()).catch(() => null);
      await consumed;
      const consumersOfS = (): number => broker.ctl(["list_consumers", "queue_name"]).split("\n").filter((l) => l.trim() === `${namespace}.s`).length;
      expect(consumersOfS()).toBe(1);
      // And every message is handled (with two channels at prefetch 1, one would sit unsettled on the orphan).
      const all = new Promise<void>((r) => (allHandled = r));
      for (let i = 0; i < 6; i++) await b.publish("s", new TextEncoder().encode(`m${i}`));
      await all;
      expect(handled.sort()).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
      await taken.cancel();
    } finally {
      await a.close();
      await b.close();
    }
  });

  /** Close the consuming connection of the transport named `name` from the broker's side, as an operator would: it reconnects. */
  const closeConsumeConnection = (name: string): void => {
    const line = broker.ctl(["list_connections", "pid", "client_properties"]).split("\n").find((l) => l.includes(`coffee ${name} (consume)`));
    if (line === undefined) throw new Error(`no consuming connection of ${name}`);
    broker.ctl(["close_connection", line.split("\t")[0]!, "test"]);
  };

  test("transport: a consumer cancelled while a reconnect opens its channel (before it consumes) is not consumed for: its queue's messages wait, ready, for the next consumer", async () => {
    const namespace = "cancelheld";
    let connected = (): void => {};
    const t = await openTransport(namespace, { connectionName: "cancel-a", onEvent: (e) => { if (e.type === "connected") connected(); } });
    let held: HeldChannelCall | null = null;
    try {
      await t.declare([{ name: "q", bindings: ["q"] }]);
      const handled: string[] = [];
      const consumer = await t.consume("q", { prefetch: 4, concurrent: false }, (d) => {
        handled.push(new TextDecoder().decode(d.body));
        d.ack();
      });
      held = await holdNextChannelCall({ url: broker.url }, "prefetch");
      const reconnected = new Promise<void>((r) => (connected = r));
      closeConsumeConnection("cancel-a");
      // The reconnect's resubscription of q has its channel open, and waits for its prefetch.
      await held.reached;
      await consumer.cancel();
      held.release();
      await reconnected;
      await t.publish("q", new TextEncoder().encode("after the cancel"));
      // Not consumed on: the message is ready, not delivered to a channel that leaves it unsettled.
      expect((await t.queueDepths()).find((d) => d.queue === "q")).toEqual({ queue: "q", messages: 1, consumers: 0 });
      expect(handled).toEqual([]);
    } finally {
      held?.restore();
      await t.close();
    }
  });

  test("transport: an exclusive consume() refused while a reconnect resubscribes the consumers (one subscription for both) rejects, and no consumer-refused is said for it", async () => {
    const namespace = "refusedshared";
    const aEvents: BrokerEvent[] = [];
    let consumeNow = (): void => {};
    let aConnected = (): void => {};
    const a = await openTransport(namespace, {
      reconnectInitialMs: 2000, reconnectMaxMs: 2000, connectionName: "shared-a",
      onEvent: (e) => {
        aEvents.push(e);
        // Said while the reconnect goes through A's consumers (after the link is up, before it is done with them).
        if (e.type === "consumer-refused" && e.queue === "r") consumeNow();
        if (e.type === "connected") aConnected();
      },
    });
    const b = await openTransport(namespace, { connectionName: "shared-b" });
    try {
      await a.declare([{ name: "r", bindings: ["r"] }, { name: "s", bindings: ["s"] }]);
      const exclusive = { prefetch: 4, concurrent: false, exclusive: true };
      await a.consume("r", exclusive, (d) => void d.ack());
      const bHoldsS = await b.consume("s", exclusive, (d) => void d.ack());
      // A asks for s while its reconnect is going through its consumers: the reconnect comes to
      // that new consumer while consume() is subscribing it, and waits for that same subscription.
      const refusedS = new Promise<unknown>((resolve) => {
        consumeNow = () => void a.consume("s", exclusive, () => {}).then(() => resolve("consumed"), resolve);
      });
      const aBack = new Promise<void>((r) => (aConnected = r));
      // A loses its consuming connection; B takes r before A is back, so A's resubscription of r
      // is refused, and A asks for s right then.
      closeConsumeConnection("shared-a");
      let taken = null;
      while (taken === null) taken = await b.consume("r", exclusive, (d) => void d.ack()).catch(() => null);
      expect(await refusedS).toMatchObject({ code: "QUEUE_IN_USE" });
      await aBack;
      // Said for r, which A goes on asking for; not for s, whose consume() was refused to its caller.
      expect(aEvents.flatMap((e) => (e.type === "consumer-refused" ? [e.queue] : []))).toEqual(["r"]);
      await taken.cancel();
      await bHoldsS.cancel();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("transport: a broker's resource alarm is reported as blocked, and what waited is confirmed once it clears", async () => {
    const events: BrokerEvent[] = [];
    const { promise: blocked, resolve: onBlocked } = Promise.withResolvers<void>();
    const { promise: unblocked, resolve: onUnblocked } = Promise.withResolvers<void>();
    const t = await openTransport("alarm", {
      // Shorter than the alarm below: a blocked connection's silence is no reason for a new channel.
      confirmTimeoutMs: 1000,
      onEvent: (e) => {
        events.push(e);
        if (e.type === "blocked") onBlocked();
        if (e.type === "unblocked") onUnblocked();
      },
    });
    try {
      await t.declare([{ name: "q", bindings: ["k"] }]);
      await t.publish("k", Uint8Array.of(1));
      // A watermark of 0 sets the memory alarm off at once; the broker blocks (and says so to) a
      // connection when it next publishes.
      broker.ctl(["set_vm_memory_high_watermark", "0"]);
      const waiting = t.publish("k", Uint8Array.of(2));
      await blocked;
      await Bun.sleep(2500); // the alarm's length (past two confirm timeouts), not a wait for an event
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await unblocked;
      await waiting;
      expect(events.filter((e) => e.type === "blocked" || e.type === "unblocked")).toEqual([{ type: "blocked", reason: expect.stringContaining("memory") }, { type: "unblocked" }]);
      expect(events.filter((e) => e.type === "publisher-replaced")).toEqual([]);
    } finally {
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await t.close();
    }
  }, 60_000);

  test("transport: a publish the broker leaves unanswered (its queue process suspended) goes again on a new channel after the confirm timeout, and resolves once the queue answers", async () => {
    const events: BrokerEvent[] = [];
    const replaced = Promise.withResolvers<void>();
    const t = await openTransport("silent", {
      confirmTimeoutMs: 1000,
      onEvent: (e) => {
        events.push(e);
        if (e.type === "publisher-replaced" && events.filter((x) => x.type === "publisher-replaced").length === 2) replaced.resolve();
      },
    });
    // The queue's Erlang process stops taking messages: publishes to it are neither confirmed
    // nor nacked, and the connection is not blocked (a channel that lost track of a publish).
    const queuePid = `element(2, rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"silent.q">>)))`;
    try {
      await t.declare([{ name: "q", bindings: ["k"] }]);
      await t.publish("k", Uint8Array.of(1));
      broker.ctl(["eval", `sys:suspend(amqqueue:get_pid(${queuePid})).`]);
      let settled = false;
      const waiting = t.publish("k", Uint8Array.of(2)).finally(() => { settled = true; });
      // Twice: the first new channel's copy goes unanswered too, while the queue stays suspended.
      await replaced.promise;
      expect(settled).toBe(false);
      broker.ctl(["eval", `sys:resume(amqqueue:get_pid(${queuePid})).`]);
      await waiting;
      const reasons = events.flatMap((e) => (e.type === "publisher-replaced" ? [e.reason] : []));
      expect(reasons.slice(0, 2)).toEqual(Array(2).fill("the broker neither confirmed nor nacked a publish to k for 1 s"));
      // One link all along: only the publishing channel was replaced.
      expect(events.filter((e) => e.type === "connected" || e.type === "disconnected").map((e) => e.type)).toEqual(["connected"]);
    } finally {
      try {
        broker.ctl(["eval", `catch sys:resume(amqqueue:get_pid(${queuePid})).`]);
      } finally {
        await t.close();
      }
    }
  }, 60_000);

  test("transport: while the broker blocks its publishing (a resource alarm), its consumers still get deliveries and their acks still count", async () => {
    const t = await openTransport("alarmconsume");
    try {
      await t.declare([{ name: "q", bindings: ["k"] }]);
      for (const i of [1, 2, 3]) await t.publish("k", Uint8Array.of(i));
      broker.ctl(["set_vm_memory_high_watermark", "0"]);
      // Blocks the publishing connection: the broker reads nothing more from it until it clears.
      const waiting = t.publish("k", Uint8Array.of(4));
      // Rejected by close() if the test fails before it is awaited: that is not a second failure.
      waiting.catch(() => {});
      const got: number[] = [];
      const { promise: three, resolve: gotThree } = Promise.withResolvers<void>();
      // One at a time: the second comes only once the broker has read the first one's ack.
      await t.consume("q", { prefetch: 1, concurrent: false }, (d) => {
        got.push(d.body[0]!);
        d.ack();
        if (got.length === 3) gotThree();
      });
      await three;
      expect(got).toEqual([1, 2, 3]);
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await waiting;
    } finally {
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await t.close();
    }
  }, 60_000);

  test("transport: a broker whose max_message_size is under coffee's refuses a larger message once, as LIMIT_EXCEEDED; the others go on", async () => {
    // Read by each channel as it opens, so set before the transport connects.
    broker.ctl(["eval", "application:set_env(rabbit, max_message_size, 4096)."]);
    const errors: string[] = [];
    let t: AmqpTransport | undefined;
    try {
      t = await openTransport("maxsize", { onError: (e) => errors.push(errorMessage(e)) });
      await t.declare([{ name: "q", bindings: ["k"] }]);
      const got: number[] = [];
      const { promise: both, resolve: bothArrived } = Promise.withResolvers<void>();
      await t.consume("q", { prefetch: 4, concurrent: false }, (d) => {
        got.push(d.body.length);
        d.ack();
        if (got.length === 2) bothArrived();
      });
      await t.publish("k", new Uint8Array(1000));
      const err = await t.publish("k", new Uint8Array(8192)).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CoffeeError);
      expect((err as CoffeeError).code).toBe("LIMIT_EXCEEDED");
      expect((err as Error).message).toContain("exceeds 4096 bytes");
      await t.publish("k", new Uint8Array(2000));
      await both;
      expect(got).toEqual([1000, 2000]);
      // Now refused without a word to the broker: it closed one channel in all.
      const again = await t.publish("k", new Uint8Array(8192)).then(() => null, (e: unknown) => e);
      expect((again as CoffeeError).code).toBe("LIMIT_EXCEEDED");
      expect(errors.filter((e) => e.includes("larger than configured max size"))).toHaveLength(1);
    } finally {
      broker.ctl(["eval", "application:set_env(rabbit, max_message_size, 134217728)."]);
      await t?.close();
    }
  }, 30_000);

  test("gateway: a resource alarm holds the stall deadline of a session awaiting results; it runs afresh once the alarm clears", async () => {
    const t = await openTransport("alarmgw");
    await t.declare(allQueues());
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    // No stage runs: nothing will ever answer this session, so only the alarm keeps it alive.
    const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, heartbeatMs: 100, resultTimeoutMs: 3000 }), t, log);
    const running = gw.run();
    try {
      const conn = await openRaw(await gw.listening);
      await emptyUpload(conn);
      broker.ctl(["set_vm_memory_high_watermark", "0"]);
      // Sixty ticks, 6 s: twice the timeout, and no error among them; the client is told why.
      expect(await heldHeartbeats(conn, 60)).toBe(true);
      expect(gw.status().brokerHeld).toBe(true);
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      const stalled = await conn.next("error") as Extract<GatewayMessage, { t: "error" }>;
      expect(stalled.code).toBe("PIPELINE_STALLED");
      expect(lines.some((l) => l.includes("takes publishes again"))).toBe(true);
      await conn.closed;
    } finally {
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await gw.shutdown();
      await running;
      await t.close();
    }
  }, 60_000);

  test("gateway: shut down while the broker blocks its connection (a resource alarm), it and its transport stop at once", async () => {
    const t = await openTransport("alarmstop");
    try {
      await t.declare(allQueues());
      const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, heartbeatMs: 100, resultTimeoutMs: 60_000 }), t, { info() {}, warn() {}, error() {} });
      const running = gw.run();
      const conn = await openRaw(await gw.listening);
      await emptyUpload(conn);
      broker.ctl(["set_vm_memory_high_watermark", "0"]);
      // Held: the probe got the connection blocked, and the broker reads nothing more from it.
      while (gw.status().brokerHeld !== true) await conn.next("heartbeat");
      const started = performance.now();
      const stopped = (async () => {
        await gw.shutdown();
        await running;
        await t.close();
      })();
      // A deadline, so a hang fails here and the alarm is still cleared below.
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const hung = new Promise<string>((resolve) => { deadline = setTimeout(() => resolve("hung"), 20_000); });
      expect(await Promise.race([stopped.then(() => "stopped"), hung])).toBe("stopped");
      clearTimeout(deadline);
      // The broker said it blocks the connection: nothing waited for an answer that cannot come.
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      broker.ctl(["set_vm_memory_high_watermark", "0.4"]);
      await t.close();
    }
  }, 60_000);

  test("transport: a serial consumer stays serial across a restart, and deliveries of the lost channel are not handled", async () => {
    let restarting = false;
    const { promise: reconnected, resolve: connectedAgain } = Promise.withResolvers<void>();
    const t = await openTransport("serial", { onEvent: (e) => { if (restarting && e.type === "connected") connectedAgain(); } });
    await t.declare([{ name: "q", bindings: ["k"] }]);
    const handled: number[] = [];
    let running = 0;
    let most = 0;
    const { promise: held, resolve: release } = Promise.withResolvers<void>();
    const { promise: first, resolve: firstArrived } = Promise.withResolvers<void>();
    const { promise: four, resolve: fourth } = Promise.withResolvers<void>();
    await t.consume("q", { prefetch: 3, concurrent: false }, async (d) => {
      running++;
      most = Math.max(most, running);
      handled.push(new DataView(d.body.buffer, d.body.byteOffset).getUint32(0));
      // The first delivery is still being handled when the broker goes away.
      if (handled.length === 1) {
        firstArrived();
        await held;
      }
      running--;
      d.ack();
      if (handled.length === 4) fourth();
    });
    const msg = (i: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, i); return b; };
    await Promise.all([1, 2, 3].map((i) => t.publish("k", msg(i))));
    await first;
    restarting = true;
    await broker.restart();
    await reconnected;
    release();
    await four;
    // 2 and 3 of the lost channel were skipped (the broker requeued them), and the three
    // redeliveries waited for the handler still running: one at a time, as asked.
    expect(handled).toEqual([1, 1, 2, 3]);
    expect(most).toBe(1);
    await t.close();
  });

  /** Close `ns`'s namespace lock connection from the broker's side. */
  const closeLockConnection = (ns: string): void => {
    const pid = broker.ctl(["list_connections", "pid", "client_properties"]).split("\n").find((l) => l.includes(lockConnectionName(ns)))!.split("\t")[0]!;
    broker.ctl(["close_connection", pid, "closed by the test"]);
  };
  /** `ns`'s lock for the test. The broker drops an exclusive queue just after its connection and says nothing when: asked again, briefly. */
  const takeSoon = async (ns: string): Promise<NamespaceLock | null> => {
    const take = (): Promise<NamespaceLock | null> => acquireNamespaceLock({ url: broker.url }, ns, () => {});
    let lock = await take();
    for (let i = 0; lock === null && i < 20; i++) lock = await Bun.sleep(50).then(take);
    return lock;
  };

  test("coffee up --delete-on-exit whose namespace lock another connection took meanwhile leaves the namespace's queues alone", async () => {
    const cluster = await startCluster({ tag: "lockdel", env: { AMQP_URL: broker.url }, extraArgs: ["--delete-on-exit"], keepNamespace: true });
    let rival: NamespaceLock | null = null;
    try {
      // Frozen, coffee up cannot ask for its lock again: the rival is sure to get it first.
      cluster.proc.kill("SIGSTOP");
      closeLockConnection(cluster.namespace);
      rival = await takeSoon(cluster.namespace);
      cluster.proc.kill("SIGCONT");
      expect(rival).not.toBeNull();
      expect(await cluster.logged(/is held by another connection since this coffee up lost its hold/)).toContain(`namespace "${cluster.namespace}"`);
      cluster.proc.kill("SIGTERM");
      await cluster.proc.exited;
      expect(await cluster.logged(/not deleted \(--delete-on-exit\)/)).toContain(`namespace ${cluster.namespace} not deleted`);
      const { conn } = await connectBroker({ url: broker.url });
      try {
        const ch = await conn.createChannel();
        expect((await ch.checkQueue(`${cluster.namespace}.results`)).queue).toBe(`${cluster.namespace}.results`);
      } finally {
        await conn.close();
      }
    } finally {
      cluster.proc.kill("SIGCONT");
      await rival?.release();
      await cluster.stop();
    }
  });

  test("namespace lock: one holder at a time; lost in a restart and taken again; held elsewhere meanwhile, reported and waited out", async () => {
    const events = new Map<string, NamespaceLockEvent[]>();
    const wakers = new Set<() => void>();
    const record = (ns: string) => (e: NamespaceLockEvent): void => {
      events.set(ns, [...(events.get(ns) ?? []), e]);
      for (const wake of wakers) wake();
      wakers.clear();
    };
    /** Resolves once `ns`'s lock has reported an event of `type` (recorded as it happens). */
    const heard = async (ns: string, type: NamespaceLockEvent["type"]): Promise<void> => {
      while (!(events.get(ns) ?? []).some((e) => e.type === type)) await new Promise<void>((r) => wakers.add(r));
    };
    const types = (ns: string): string[] => (events.get(ns) ?? []).map((e) => e.type);
    const address = { url: broker.url };
    const quiet = (): void => {};

    const a = await acquireNamespaceLock(address, "lock-a", record("lock-a"), { retryInitialMs: 100, retryMaxMs: 500 });
    expect(a?.held()).toBe(true);
    expect(await acquireNamespaceLock(address, "lock-a", quiet)).toBeNull();
    await broker.restart();
    await heard("lock-a", "regained");
    // While the broker was down, a retry's failure was said when its reason changed, not at every try.
    expect(types("lock-a").filter((t) => t !== "retrying")).toEqual(["lost", "regained"]);
    const reasons = events.get("lock-a")!.flatMap((e) => (e.type === "retrying" ? [e.reason] : []));
    expect(reasons.every((r, i) => i === 0 || r !== reasons[i - 1])).toBe(true);
    expect(a!.held()).toBe(true);
    expect(await acquireNamespaceLock(address, "lock-a", quiet)).toBeNull();

    // b's connection is closed under it, and it waits 1.5 to 3 s before it tries again: the rival
    // is quicker. b says so, keeps trying, and has the lock again once the rival lets go.
    const b = await acquireNamespaceLock(address, "lock-b", record("lock-b"), { retryInitialMs: 3_000, retryMaxMs: 3_000 });
    closeLockConnection("lock-b");
    await heard("lock-b", "lost");
    expect(b!.held()).toBe(false);
    const rival = await takeSoon("lock-b");
    expect(rival).not.toBeNull();
    await heard("lock-b", "taken");
    await rival!.release();
    await heard("lock-b", "regained");
    expect(types("lock-b")).toEqual(["lost", "taken", "regained"]);
    expect(b!.held()).toBe(true);

    // Released while it waits to retry: it stops at once, says nothing more, and the lock is free.
    const c = await acquireNamespaceLock(address, "lock-c", record("lock-c"), { retryInitialMs: 3_000, retryMaxMs: 3_000 });
    closeLockConnection("lock-c");
    await heard("lock-c", "lost");
    await c!.release();
    const next = await takeSoon("lock-c");
    expect(next).not.toBeNull();
    expect(types("lock-c")).toEqual(["lost"]);
    for (const l of [a, b, next]) await l?.release();
  });

  test("cluster: broker restarted mid-session, every process survives, results exact", async () => {
    const cluster = await startCluster({ tag: "brk", env: { AMQP_URL: broker.url } });
    const data = tempDir("brkdata");
    const out = tempDir("brkout");
    try {
      await generate(data, 66, ["--months", "2024-08..2024-09", "--transactions-per-month", "3000", "--users", "500"]);
      const expected = await reference(data);
      const pidsBefore = await Bun.file(join(cluster.stateDir, "cluster.json")).json() as { name: string; pid: number }[];
      // A slow client, so the restart lands in the middle of its upload.
      const run = slowClient(cluster.port, data, out, 20, 2);
      await run.underWay;
      await broker.restart();
      const { code, stdout, stderr } = await run.finished;
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(readResults(sessionDirFrom(stdout))).toEqual(expected);
      const pidsAfter = await Bun.file(join(cluster.stateDir, "cluster.json")).json() as { name: string; pid: number }[];
      expect(pidsAfter.map((p) => p.pid)).toEqual(pidsBefore.map((p) => p.pid));
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});
