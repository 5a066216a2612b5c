/**
 * The AMQP transport against the real RabbitMQ at AMQP_URL (a namespace of its own, deleted
 * afterwards): what it refuses before the broker sees it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ChannelModel } from "amqplib";
import { AmqpTransport, type BrokerEvent } from "../src/amqpTransport.ts";
import { connectBroker } from "../src/brokerAddress.ts";
import { CoffeeError } from "../src/errors.ts";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { brokerProbe } from "../src/privateBroker.ts";
import { freeTcpPort } from "../src/ports.ts";
import { redactUrl } from "../src/redact.ts";
import { allQueues, PROBE_QUEUE } from "../src/topology.ts";
import { MAX_MESSAGE_BYTES, type Delivery } from "../src/transport.ts";
import { holdNextChannelCall, type HeldChannelCall } from "./heldChannelCall.ts";
import { deleteTestNamespace, uniqueNamespace } from "./harness.ts";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const brokerUp = (await brokerProbe({ url: AMQP_URL })) === null;

/** A transport of its own namespace whose events are kept; `react` sees each as it comes. */
async function openWatched(namespace: string, react: (e: BrokerEvent) => void = () => {}): Promise<{ t: AmqpTransport; events: BrokerEvent[] }> {
  const events: BrokerEvent[] = [];
  const t = await AmqpTransport.open({
    broker: { url: AMQP_URL }, queueType: "classic", namespace, maxUnconfirmed: 16, reconnectInitialMs: 100, reconnectMaxMs: 500, onError: () => {},
    onEvent: (e) => {
      events.push(e);
      react(e);
    },
  });
  return { t, events };
}

/** Delete `queue` behind the transport's back: the broker cancels its consumer, and the transport reconnects. */
async function deleteUnder(namespace: string, queue: string): Promise<void> {
  const { conn } = await connectBroker({ url: AMQP_URL });
  try {
    await (await conn.createChannel()).deleteQueue(`${namespace}.${queue}`);
  } finally {
    await conn.close();
  }
}

/** Why each failed reconnect attempt failed, from the events of a transport. */
const failedAttempts = (events: readonly BrokerEvent[]): string[] => events.flatMap((e) => (e.type === "reconnecting" && e.lastError !== "" ? [e.lastError] : []));

describe.if(brokerUp)("AMQP transport (RabbitMQ at AMQP_URL)", () => {
  const namespace = uniqueNamespace("transport");
  const events: string[] = [];
  let transport: AmqpTransport;
  beforeAll(async () => {
    transport = await AmqpTransport.open({
      broker: { url: AMQP_URL }, queueType: "classic", namespace, maxUnconfirmed: 16,
      reconnectInitialMs: 100, reconnectMaxMs: 500, onEvent: (e) => events.push(e.type), onError: (e) => events.push(`error: ${String(e)}`),
    });
    await transport.declare([{ name: "big", bindings: ["big"] }]);
  });
  afterAll(async () => {
    await transport.close();
    await deleteTestNamespace(namespace, ["big", "twice", "alone", "gone", "kept"]);
  });

  test("a message over the broker's size limit is refused at once, and the connection goes on", async () => {
    // RabbitMQ 3.x takes up to 128 MiB; 4.x closes the channel above 16 MiB, and a retried
    // publish would close it again forever. Either way it must not reach the broker.
    let err: unknown;
    await transport.publish("big", new Uint8Array(MAX_MESSAGE_BYTES + 1)).catch((e: unknown) => { err = e; });
    expect(err).toBeInstanceOf(CoffeeError);
    expect((err as CoffeeError).code).toBe("LIMIT_EXCEEDED");
    // A message at the limit goes through, on the same connection.
    const got = Promise.withResolvers<Delivery>();
    const consumer = await transport.consume("big", { prefetch: 1, concurrent: false }, (d) => got.resolve(d));
    await transport.publish("big", new Uint8Array(MAX_MESSAGE_BYTES));
    const d = await got.promise;
    expect(d.body.length).toBe(MAX_MESSAGE_BYTES);
    expect(d.ack()).toBe(true);
    await consumer.cancel();
    expect(events.filter((e) => e !== "connected")).toEqual([]);
  });

  test("a delivery is settled once: an ack after its nack is refused here, not sent to close the channel", async () => {
    await transport.declare([{ name: "twice", bindings: ["twice"] }]);
    const seen: { redelivered: boolean; ackAfterNack?: boolean }[] = [];
    const again = Promise.withResolvers<void>();
    const consumer = await transport.consume("twice", { prefetch: 1, concurrent: false }, (d) => {
      if (!d.redelivered) {
        d.nack(true);
        seen.push({ redelivered: false, ackAfterNack: d.ack() });
      } else {
        seen.push({ redelivered: true, ackAfterNack: d.ack() });
        again.resolve();
      }
    });
    await transport.publish("twice", new TextEncoder().encode("once"));
    await again.promise;
    await consumer.cancel();
    // The nack requeued it; the ack after it was refused (false), so the channel lived on to
    // deliver it again, and that delivery's own ack went through.
    expect(seen).toEqual([{ redelivered: false, ackAfterNack: false }, { redelivered: true, ackAfterNack: true }]);
    expect(events.filter((e) => e !== "connected")).toEqual([]);
  });
  test("a queue deleted under the transport is declared again, bound, when its depth is read; the other queues' depths are read on", async () => {
    await transport.declare([{ name: "gone", bindings: ["gone"] }, { name: "kept", bindings: ["kept"] }]);
    await transport.publish("kept", new TextEncoder().encode("k"));
    await deleteUnder(namespace, "gone");
    const before = events.length;
    const depths = await transport.queueDepths();
    expect(depths.find((d) => d.queue === "gone")).toEqual({ queue: "gone", messages: 0, consumers: 0 });
    expect(depths.find((d) => d.queue === "kept")).toMatchObject({ messages: 1 });
    expect(events.slice(before)).toEqual(["queue-redeclared"]);
    // Bound again: a publish routed to it is kept.
    await transport.publish("gone", new TextEncoder().encode("g"));
    expect((await transport.queueDepths()).find((d) => d.queue === "gone")).toMatchObject({ messages: 1 });
    expect(events.slice(before)).toEqual(["queue-redeclared"]);
  });

  test("an exclusive consumer holds its queue alone: another is refused with QUEUE_IN_USE, neither connection is disturbed, and the hold ends with its consumer", async () => {
    await transport.declare([{ name: "alone", bindings: ["alone"] }]);
    const before = events.length;
    const otherEvents: string[] = [];
    const other = await AmqpTransport.open({
      broker: { url: AMQP_URL }, queueType: "classic", namespace, maxUnconfirmed: 16,
      reconnectInitialMs: 100, reconnectMaxMs: 500, onEvent: (e) => otherEvents.push(e.type), onError: (e) => otherEvents.push(`error: ${String(e)}`),
    });
    try {
      const got: string[] = [];
      const first = Promise.withResolvers<void>();
      const holder = await transport.consume("alone", { prefetch: 4, concurrent: false, exclusive: true }, (d) => {
        got.push(new TextDecoder().decode(d.body));
        d.ack();
        first.resolve();
      });
      await expect(other.consume("alone", { prefetch: 4, concurrent: false, exclusive: true }, () => {})).rejects.toMatchObject({ code: "QUEUE_IN_USE" });
      // The holder still gets what is published, on the link it had.
      await other.publish("alone", new TextEncoder().encode("one"));
      await first.promise;
      expect(got).toEqual(["one"]);
      await holder.cancel();
      const second = Promise.withResolvers<string>();
      const taker = await other.consume("alone", { prefetch: 4, concurrent: false, exclusive: true }, (d) => {
        d.ack();
        second.resolve(new TextDecoder().decode(d.body));
      });
      await transport.publish("alone", new TextEncoder().encode("two"));
      expect(await second.promise).toBe("two");
      await taker.cancel();
      // No reconnect on either side: the refusal closed one consumer channel, nothing else.
      expect(events.slice(before)).toEqual([]);
      expect(otherEvents.filter((e) => e !== "connected")).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe.if(brokerUp)("a consume that fails (its queue does not exist)", () => {
  test("rejects, and the reconnect its closed channel costs does not subscribe it again (it would fail so at every attempt)", async () => {
    const namespace = uniqueNamespace("absent");
    let failedReconnect = (_lastError: string): void => {};
    const reconnectFailed = new Promise<string>((r) => (failedReconnect = r));
    // The attempt after a failed one says why that one failed.
    const { t, events } = await openWatched(namespace, (e) => void (e.type === "reconnecting" && e.lastError !== "" && failedReconnect(e.lastError)));
    try {
      await t.declare([{ name: "kept", bindings: ["kept"] }]);
      await expect(t.consume("absent", { prefetch: 1, concurrent: false }, () => {})).rejects.toThrow(/NOT.FOUND/);
      // The broker closed that consumer's channel, and the transport reconnects: the test needs
      // that reconnect (were it ever spared, one must be forced here).
      expect(events.map((e) => e.type)).toContain("disconnected");
      const outcome = await Promise.race([
        t.publish("kept", Uint8Array.of(1)).then(() => "published"),
        reconnectFailed.then((lastError) => `a reconnect failed: ${lastError}`),
      ]);
      expect(outcome).toBe("published");
    } finally {
      await t.close();
      await deleteTestNamespace(namespace, ["kept"]);
    }
  });
});

describe.if(brokerUp)("consumers and reconnects (a queue deleted under a consumer makes the transport reconnect)", () => {

  test("a consumer cancelled while a reconnect's consume for it is on its way costs that reconnect nothing", async () => {
    const namespace = uniqueNamespace("cancelconsume");
    let connected = (): void => {};
    const { t, events } = await openWatched(namespace, (e) => void (e.type === "connected" && connected()));
    let held: HeldChannelCall | null = null;
    try {
      await t.declare([{ name: "q", bindings: ["q"] }, { name: "doomed", bindings: ["doomed"] }]);
      const consumer = await t.consume("q", { prefetch: 4, concurrent: false }, (d) => void d.ack());
      await t.consume("doomed", { prefetch: 4, concurrent: false }, (d) => void d.ack());
      held = await holdNextChannelCall({ url: AMQP_URL }, "consume");
      const reconnected = new Promise<void>((r) => (connected = r));
      await deleteUnder(namespace, "doomed");
      // The reconnect's consume for q is held; its channel is the entry's now, and cancel closes it.
      await held.reached;
      await consumer.cancel();
      held.release();
      await reconnected;
      // The consume on the closed channel failed, and the attempt went on without it: no attempt failed.
      expect(failedAttempts(events)).toEqual([]);
      await t.publish("q", new TextEncoder().encode("after the cancel"));
      expect((await t.queueDepths()).find((d) => d.queue === "q")).toEqual({ queue: "q", messages: 1, consumers: 0 });
    } finally {
      held?.restore();
      await t.close();
      await deleteTestNamespace(namespace, ["q", "doomed"]);
    }
  });

  test("an exclusive consume() asked for while disconnected, and refused, rejects to its caller alone: no consumer-refused, no retries, no failed attempt", async () => {
    const namespace = uniqueNamespace("refusedwhiledown");
    const holder = await openWatched(namespace);
    let askNow = (): void => {};
    let connected = (): void => {};
    const asker = await openWatched(namespace, (e) => {
      if (e.type === "disconnected") askNow();
      if (e.type === "connected") connected();
    });
    try {
      await asker.t.declare([{ name: "s", bindings: ["s"] }, { name: "doomed", bindings: ["doomed"] }]);
      const exclusive = { prefetch: 4, concurrent: false, exclusive: true };
      const held = await holder.t.consume("s", exclusive, (d) => void d.ack());
      await asker.t.consume("doomed", { prefetch: 4, concurrent: false }, (d) => void d.ack());
      // Asked for right as the link goes: the reconnect finds this consumer registered, its consume() pending.
      const asked = new Promise<unknown>((resolve) => {
        askNow = () => void asker.t.consume("s", exclusive, () => {}).then(() => "consumed", resolve);
      });
      const connectedAgain = new Promise<void>((r) => (connected = r));
      await deleteUnder(namespace, "doomed");
      expect(await asked).toMatchObject({ code: "QUEUE_IN_USE" });
      await connectedAgain;
      expect(asker.events.filter((e) => e.type === "consumer-refused")).toEqual([]);
      expect(failedAttempts(asker.events)).toEqual([]);
      await held.cancel();
    } finally {
      await holder.t.close();
      await asker.t.close();
      await deleteTestNamespace(namespace, ["s", "doomed"]);
    }
  });
});

describe.if(brokerUp)("AMQP_URL naming several nodes (RabbitMQ at AMQP_URL behind a dead one)", () => {
  const dead = `amqp://guest:s3cret@127.0.0.1:${freeTcpPort()}`;

  test("a connection skips a node that does not answer and says which node it reached", async () => {
    const { conn, node } = await connectBroker({ url: `${dead},${AMQP_URL}` });
    await conn.close();
    expect(node).toBe(1);
  });

  test("when no node answers, one BROKER_UNAVAILABLE names each node's failure, passwords hidden", async () => {
    let err: unknown;
    await connectBroker({ url: `${dead},${dead.replace("127.0.0.1", "127.0.0.2")}` }).catch((e: unknown) => { err = e; });
    expect((err as CoffeeError).code).toBe("BROKER_UNAVAILABLE");
    expect((err as Error).message).toContain("amqp://guest:***@127.0.0.1:");
    expect((err as Error).message).toContain("amqp://guest:***@127.0.0.2:");
    expect((err as Error).message).toContain("ECONNREFUSED");
    expect((err as Error).message).not.toContain("s3cret");
  });

  test("the transport opens on whichever node answers, wherever its list starts, and reports that node", async () => {
    const namespace = uniqueNamespace("nodes");
    // Either order: the transport starts at a random node, so both orders are tried a few times.
    for (const url of [`${dead},${AMQP_URL}`, `${AMQP_URL},${dead}`, `${dead},${AMQP_URL}`, `${AMQP_URL},${dead}`]) {
      const connected: string[] = [];
      const t = await AmqpTransport.open({
        broker: { url }, queueType: "classic", namespace, maxUnconfirmed: 4,
        reconnectInitialMs: 50, reconnectMaxMs: 100, onEvent: (e) => { if (e.type === "connected") connected.push(e.url); }, onError: () => {},
      });
      try {
        await t.declare([{ name: "q", bindings: ["q"] }]);
        await t.publish("q", new Uint8Array([1]));
        expect(connected).toEqual([redactUrl(AMQP_URL)]);
      } finally {
        await t.close();
      }
    }
    await deleteTestNamespace(namespace, ["q"]);
  });
});

describe.if(brokerUp)("a publish the broker nacks", () => {
  /** A queue of `namespace` bound to key k that holds one message and nacks every publish past it (overflow reject-publish), on a connection of its own. */
  async function fullQueue(namespace: string): Promise<{ messages: () => Promise<number>; purge: () => Promise<void>; remove: () => Promise<void> }> {
    const { conn } = await connectBroker({ url: AMQP_URL });
    const ch = await conn.createChannel();
    const queue = `${namespace}.full`;
    await ch.assertQueue(queue, { durable: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } });
    await ch.bindQueue(queue, `${namespace}.data`, `${namespace}.k`);
    return {
      messages: async () => (await ch.checkQueue(queue)).messageCount,
      purge: async () => { await ch.purgeQueue(queue); },
      remove: async () => {
        await ch.deleteQueue(queue);
        await conn.close();
      },
    };
  }

  test("is sent again on a new publishing channel (one that nacks is not trusted again), consumers untouched, and resolves once the queue takes it", async () => {
    const namespace = uniqueNamespace("nack");
    const events: string[] = [];
    const replaced = Promise.withResolvers<void>();
    const t = await AmqpTransport.open({
      broker: { url: AMQP_URL }, queueType: "classic", namespace, maxUnconfirmed: 4, reconnectInitialMs: 50, reconnectMaxMs: 200, onError: () => {},
      onEvent: (e) => {
        events.push(e.type);
        if (e.type === "publisher-replaced" && e.reason.startsWith("the broker nacked")) replaced.resolve();
      },
    });
    const full = await fullQueue(namespace);
    try {
      // A consumer elsewhere, to show that a nack costs consumers nothing.
      await t.declare([{ name: "other", bindings: ["other"] }]);
      const delivered = Promise.withResolvers<number>();
      const consumer = await t.consume("other", { prefetch: 1, concurrent: false }, (d) => { delivered.resolve(d.body[0]!); d.ack(); });
      await t.publish("k", new Uint8Array([1]));
      const second = t.publish("k", new Uint8Array([2]));
      let settled = false;
      void second.then(() => { settled = true; });
      // Nacked, the link replaced, sent again (and nacked again while the queue is full).
      await replaced.promise;
      expect(settled).toBe(false);
      await full.purge();
      await second;
      expect(await full.messages()).toBe(1);
      await t.publish("other", new Uint8Array([7]));
      expect(await delivered.promise).toBe(7);
      await consumer.cancel();
      // One link all along: no reconnect, so no consumer was cut and its deliveries redelivered.
      expect(events.filter((e) => e !== "publisher-replaced")).toEqual(["connected"]);
    } finally {
      await t.close();
      await full.remove();
      await deleteTestNamespace(namespace, ["other"]);
    }
  });

  test("that keeps being nacked costs a new channel at most once per backoff step, and a calm starts the steps again", async () => {
    const namespace = uniqueNamespace("nack-pace");
    const initialMs = 100;
    const maxMs = 400;
    /** Each replacement for a nack: when it was announced and how long it said it would wait. */
    const replacements: { atMs: number; delayMs: number }[] = [];
    let wanted = { count: 0, reached: (): void => {} };
    const t = await AmqpTransport.open({
      broker: { url: AMQP_URL }, queueType: "classic", namespace, maxUnconfirmed: 4, reconnectInitialMs: initialMs, reconnectMaxMs: maxMs, onError: () => {},
      onEvent: (e) => {
        if (e.type !== "publisher-replaced" || !e.reason.startsWith("the broker nacked")) return;
        replacements.push({ atMs: performance.now(), delayMs: e.delayMs });
        if (replacements.length >= wanted.count) wanted.reached();
      },
    });
    const replaced = (count: number): Promise<void> => {
      const { promise, resolve } = Promise.withResolvers<void>();
      wanted = { count, reached: resolve };
      if (replacements.length >= count) resolve();
      return promise;
    };
    // Full after one message, and every publish to it nacked until it is purged.
    const full = await fullQueue(namespace);
    try {
      await t.publish("k", new Uint8Array([1]));
      const second = t.publish("k", new Uint8Array([2]));
      // Handled here too, so that a failed expectation below still gets to the cleanup (closing
      // the transport rejects it).
      second.catch(() => {});
      await replaced(5);
      // The first comes at once; each later one starts no sooner than the step after the one
      // before it: at least half of initialMs doubled per step, capped at maxMs (the jitter's
      // floor). Without the pacing, a new channel would follow each nack within milliseconds.
      expect(replacements[0]!.delayMs).toBe(0);
      for (let k = 1; k < 5; k++) {
        const gap = replacements[k]!.atMs + replacements[k]!.delayMs - (replacements[k - 1]!.atMs + replacements[k - 1]!.delayMs);
        expect(gap).toBeGreaterThanOrEqual(Math.min(maxMs, initialMs * 2 ** (k - 1)) / 2 - 2);
      }
      await full.purge();
      await second;
      // The queue is full again (message 2). After a calm of twice maxMs the steps start over: a
      // nack is replaced at once, and the next waits the first step (at most initialMs), not the
      // step the count had reached (at least maxMs / 2).
      await Bun.sleep(2 * maxMs + 100); // the calm's length, not a wait for an event
      const third = t.publish("k", new Uint8Array([3]));
      third.catch(() => {});
      const before = replacements.length;
      await replaced(before + 2);
      expect(replacements[before]!.delayMs).toBe(0);
      expect(replacements[before + 1]!.delayMs).toBeLessThanOrEqual(initialMs);
      await full.purge();
      await third;
    } finally {
      await t.close();
      await full.remove();
      await deleteNamespace({ url: AMQP_URL }, namespace);
    }
    // ~2 s of paced replacements and a calm: the default 5 s would leave a loaded machine little room.
  }, 20_000);
});

describe.if(brokerUp)("the gateway's broker probe", () => {
  /** A transport on a fresh namespace with the whole topology declared, and a plain connection beside it. */
  async function probing(queueType: "classic" | "quorum", run: (t: AmqpTransport, namespace: string, conn: ChannelModel) => Promise<void>): Promise<void> {
    const namespace = uniqueNamespace(`probe-${queueType}`);
    const t = await AmqpTransport.open({
      broker: { url: AMQP_URL }, queueType, namespace, maxUnconfirmed: 4,
      reconnectInitialMs: 50, reconnectMaxMs: 100, onEvent: () => {}, onError: () => {},
    });
    const { conn } = await connectBroker({ url: AMQP_URL });
    try {
      await t.declare(allQueues());
      await run(t, namespace, conn);
    } finally {
      await t.close();
      await conn.close();
      await deleteNamespace({ url: AMQP_URL }, namespace);
    }
  }

  test("on quorum queues goes to the namespace's probe queue, a quorum queue capped at 0: confirmed, and nothing kept", async () => {
    await probing("quorum", async (t, namespace, conn) => {
      for (let i = 0; i < 3; i++) await t.probePublish();
      expect((await t.queueDepths()).find((d) => d.queue === PROBE_QUEUE)).toEqual({ queue: PROBE_QUEUE, messages: 0, consumers: 0 });
      // The broker holds the queue's cap and type: a declare without either is refused.
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      await expect(ch.assertQueue(`${namespace}.${PROBE_QUEUE}`, { durable: true, arguments: { "x-queue-type": "quorum" } })).rejects.toThrow(/PRECONDITION_FAILED.*x-max-length/);
      const ch2 = await conn.createChannel();
      ch2.on("error", () => {});
      await expect(ch2.assertQueue(`${namespace}.${PROBE_QUEUE}`, { durable: true, arguments: { "x-max-length": 0, "x-overflow": "drop-head" } })).rejects.toThrow(/PRECONDITION_FAILED.*x-queue-type/);
    });
  });

  test("on classic queues is bound to no queue: confirmed, and no probe queue exists to tie roles to its node", async () => {
    await probing("classic", async (t, namespace, conn) => {
      for (let i = 0; i < 3; i++) await t.probePublish();
      expect((await t.queueDepths()).map((d) => d.queue)).toEqual(allQueues().filter((q) => q.name !== PROBE_QUEUE).map((q) => q.name));
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      await expect(ch.checkQueue(`${namespace}.${PROBE_QUEUE}`)).rejects.toThrow(/NOT_FOUND/);
    });
  });
});
