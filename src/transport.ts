/**
 * The messaging interface every role talks to. Two implementations: AMQP (RabbitMQ, durable,
 * confirmed) for real deployments, and in-memory for a one-process cluster and fast tests.
 */
import { CoffeeError } from "./errors.ts";
import type { QueueSpec } from "./topology.ts";

/** One received message; exactly one of ack/nack must be called. */
export interface Delivery {
  body: Uint8Array;
  redelivered: boolean;
  /**
   * Settle it as done. False when the ack could not be handed to the channel it came on (that
   * channel is gone, so the broker delivers it again) or it was settled already: not done, not to
   * be counted. True means handed over, not received: a connection lost before the ack left the
   * socket still gets the message again (counts are then one high; results are not, they dedupe).
   */
  ack(): boolean;
  nack(requeue: boolean): void;
}

/** A running consumer. */
export interface Consumer {
  /**
   * Stop handing deliveries to the handler (at once: later ones are left unsettled and come
   * again). Resolves once the broker confirmed the cancel, or after a bounded wait for a broker
   * that does not answer.
   */
  cancel(): Promise<void>;
}

/** Options of a consumer. */
export interface ConsumeOptions {
  /** Unacknowledged deliveries allowed in flight. */
  prefetch: number;
  /**
   * When false (stateful consumers) the handler runs for one delivery at a time, in order; when
   * true (stateless workers) deliveries are handled concurrently up to `prefetch`.
   */
  concurrent: boolean;
  /**
   * The queue's only consumer: refused with QUEUE_IN_USE while the queue has another one, and
   * others are refused while this one holds it. The broker lets go of the hold with the
   * connection (a process killed included), never later.
   */
  exclusive?: boolean;
}

/** Handler of a delivery; a thrown error nacks (requeues) the delivery. */
export type DeliveryHandler = (delivery: Delivery) => Promise<void> | void;

/**
 * Largest message a transport publishes: RabbitMQ 4's default max_message_size (3.x allows
 * 128 MiB). The broker answers a larger one by closing the channel, which fails every publish in
 * flight with it; retried, the same message would close it again, forever. Far above what coffee
 * sends (1 MiB client batches, 256 KiB result chunks).
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * A message over `limit` (MAX_MESSAGE_BYTES, or a lower limit the broker named) is refused before
 * it reaches the broker: LIMIT_EXCEEDED, never retried.
 */
export function checkMessageSize(routingKey: string, body: Uint8Array, limit = MAX_MESSAGE_BYTES): void {
  if (body.length > limit) {
    throw new CoffeeError("LIMIT_EXCEEDED", `a message of ${body.length} bytes to ${routingKey} exceeds ${limit} bytes, the broker's message size limit (send smaller batches or chunks${limit < MAX_MESSAGE_BYTES ? ", or raise the broker's max_message_size" : ""})`);
  }
}

/**
 * The limit a broker configured with a max_message_size under ours named when it closed a
 * channel over a larger message ("message size N is larger than configured max size M"), or null
 * when `closeReason` is not that.
 */
export function brokerMessageLimit(closeReason: string): number | null {
  const m = /larger than configured max size (\d+)/.exec(closeReason);
  return m ? Number(m[1]) : null;
}

/** Messaging operations, namespaced by the implementation. */
export interface Transport {
  /** Declare the exchange, queues and bindings (idempotent). */
  declare(queues: readonly QueueSpec[]): Promise<void>;
  /**
   * Publish persistently; resolves once the broker has taken responsibility (confirm). Rejects
   * at once with LIMIT_EXCEEDED for a body over MAX_MESSAGE_BYTES, or over a lower limit the
   * broker named when it refused a message (that first message is refused the same way).
   */
  publish(routingKey: string, body: Uint8Array): Promise<void>;
  consume(queue: string, options: ConsumeOptions, handler: DeliveryHandler): Promise<Consumer>;
  close(): Promise<void>;
  /**
   * Ready messages and consumers of every queue this transport declared (unprefixed names), for
   * status pages. Optional: wrappers that cannot tell leave it out and show no depths.
   */
  queueDepths?(): Promise<QueueDepth[]>;
  /**
   * Publish an empty message to PROBE_KEY (topology's PROBE_QUEUE, or nothing), which the broker
   * confirms and drops: resolves once it did, i.e. once the broker takes publishes
   * (src/publishProbe.ts). Left out by transports that cannot be blocked (in-memory) and
   * wrappers that cannot tell.
   */
  probePublish?(): Promise<void>;
  /**
   * True while the broker has told this transport's publishing connection that it takes no
   * publishes (AMQP connection.blocked: a memory or disk alarm), until it says otherwise. Left
   * out by transports that cannot be blocked.
   */
  publishingBlocked?(): boolean;
}

/**
 * `transport` with its publish and/or consume replaced (decorators that count or observe them)
 * and everything else passed through: a Proxy rather than a copied object, so optional
 * capabilities (queueDepths, probePublish) stay visible to the roles.
 */
export function decoratedTransport(transport: Transport, overrides: Partial<Pick<Transport, "publish" | "consume">>): Transport {
  return new Proxy(transport, {
    get(target, prop) {
      if (prop === "publish" && overrides.publish) return overrides.publish;
      if (prop === "consume" && overrides.consume) return overrides.consume;
      const value: unknown = Reflect.get(target, prop, target);
      // Methods run on the real transport, whose private state the proxy does not have.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** How full one queue is right now (a type, not an interface, so it fits a JSON health reply). */
export type QueueDepth = {
  /** Queue name without the namespace prefix. */
  queue: string;
  /** Messages ready for delivery (not counting delivered, unacknowledged ones). */
  messages: number;
  consumers: number;
};

/** Run a handler per delivery, serially or concurrently, nacking on failure. */
export function dispatcher(options: ConsumeOptions, handler: DeliveryHandler, onError: (err: unknown) => void): (d: Delivery) => void {
  let chain: Promise<void> = Promise.resolve();
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // A failing error reporter must not stop the consumer.
    }
  };
  const runOne = async (d: Delivery): Promise<void> => {
    try {
      await handler(d);
    } catch (err) {
      report(err);
      try {
        d.nack(true);
      } catch (nackErr) {
        // The channel is gone; the broker requeues unacked deliveries on its own.
        report(nackErr);
      }
    }
  };
  return (d) => {
    if (options.concurrent) void runOne(d);
    // runOne never rejects, and the catch keeps the chain alive even if it somehow did:
    // one bad delivery must not stop every later one.
    else chain = chain.then(() => runOne(d)).catch(report);
  };
}
