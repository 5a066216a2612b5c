/**
 * The AMQP transport against the real RabbitMQ at AMQP_URL (a namespace of its own, deleted
 * afterwards): what it refuses before the broker sees it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AmqpTransport } from "../src/amqpTransport.ts";
import { CoffeeError } from "../src/errors.ts";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { brokerProbe } from "../src/privateBroker.ts";
import { MAX_MESSAGE_BYTES, type Delivery } from "../src/transport.ts";
import { uniqueNamespace } from "./harness.ts";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const brokerUp = (await brokerProbe({ url: AMQP_URL })) === null;

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
    await deleteNamespace({ url: AMQP_URL }, namespace);
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
});
