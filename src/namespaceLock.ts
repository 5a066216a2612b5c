/**
 * `coffee up`'s hold on its namespace: an exclusive queue, `<namespace>.up-lock`. RabbitMQ lets
 * one connection at a time declare it and drops it with that connection, also when the process
 * is SIGKILLed, so a lock never outlives its holder and never needs clearing by hand. Checking
 * the namespace's consumers alone left a race: two `coffee up` started together both found
 * none, since neither had started a consumer yet.
 */
import type { Channel, ChannelModel } from "amqplib";
import { withHeartbeat } from "./amqpTransport.ts";
import { jitteredBackoffMs } from "./backoff.ts";
import { connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import { errorMessage } from "./errors.ts";

/** The lock queue's name in `namespace`; not one of the topology's queues, so nothing consumes or deletes it. */
export const lockQueueName = (namespace: string): string => `${namespace}.up-lock`;

/** What happens to a held lock while the cluster runs. */
export type NamespaceLockEvent =
  /** The lock's connection closed (the broker restarted, or its node went away); retrying. */
  | { type: "lost"; reason: string }
  /** Held again after a loss. */
  | { type: "regained" }
  /** Another holder took it while ours was lost: two clusters may now share the namespace. Retrying stops. */
  | { type: "taken" };

/** AMQP's reply code for an exclusive queue another connection holds. */
const RESOURCE_LOCKED = 405;

/** How a lost lock is retried (first delay, doubling to the maximum, jittered). */
export interface NamespaceLockOptions {
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** The name the lock's connection shows in `rabbitmqctl list_connections` and the management UI. */
export const lockConnectionName = (namespace: string): string => `coffee up: namespace lock ${namespace}`;

/** A held namespace lock; `release()` gives it up. */
export interface NamespaceLock {
  release(): Promise<void>;
}

/**
 * Take `namespace`'s lock on `broker`: the lock, or null when another connection holds it.
 * Other failures (no broker) are thrown. Once taken, a lost connection is retried with backoff
 * until the lock is held again or someone else has it; `onEvent` hears each step.
 */
export async function acquireNamespaceLock(broker: BrokerAddress, namespace: string, onEvent: (e: NamespaceLockEvent) => void, opts: NamespaceLockOptions = {}): Promise<NamespaceLock | null> {
  const retryInitialMs = opts.retryInitialMs ?? 200;
  const retryMaxMs = opts.retryMaxMs ?? 5_000;
  const declare = (): Promise<ChannelModel | null> => declareLock(broker, namespace);
  let released = false;
  let conn: ChannelModel | null = await declare();
  if (conn === null) return null;

  const watch = (c: ChannelModel): void => {
    c.on("close", (err?: Error) => {
      if (released || c !== conn) return;
      conn = null;
      onEvent({ type: "lost", reason: err ? errorMessage(err) : "connection closed" });
      void retake();
    });
  };
  const retake = async (): Promise<void> => {
    for (let attempt = 0; !released; attempt++) {
      await Bun.sleep(jitteredBackoffMs(attempt, retryInitialMs, retryMaxMs));
      if (released) return;
      let got: ChannelModel | null;
      try {
        got = await declare();
      } catch {
        continue; // still no broker: try again
      }
      if (got === null) return onEvent({ type: "taken" });
      if (released) return void (await got.close().catch(() => {}));
      conn = got;
      watch(got);
      return onEvent({ type: "regained" });
    }
  };
  watch(conn);
  return {
    async release() {
      released = true;
      const c = conn;
      conn = null;
      // Closing the connection drops the exclusive queue with it.
      await c?.close().catch(() => {});
    },
  };
}

/** One connection that declares the lock queue: the connection (held open), or null if another holds the queue. */
async function declareLock(broker: BrokerAddress, namespace: string): Promise<ChannelModel | null> {
  const { conn } = await connectBroker(broker, { shape: withHeartbeat, extra: { clientProperties: { connection_name: lockConnectionName(namespace) } } });
  // Errors arrive as the rejections below and as `close`; without a listener they would throw.
  conn.on("error", () => {});
  try {
    const ch: Channel = await conn.createChannel();
    ch.on("error", () => {});
    // Classic: a vhost whose default queue type is quorum would refuse an exclusive queue.
    await ch.assertQueue(lockQueueName(namespace), { exclusive: true, durable: false, arguments: { "x-queue-type": "classic" } });
    return conn;
  } catch (err) {
    await conn.close().catch(() => {});
    if ((err as { code?: unknown }).code === RESOURCE_LOCKED) return null;
    throw err;
  }
}
