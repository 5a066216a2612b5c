/**
 * `coffee up`'s hold on its namespace: an exclusive queue, `<namespace>.up-lock`. RabbitMQ lets
 * one connection at a time declare it and drops it with that connection, also when the process
 * is SIGKILLed, so a lock never outlives its holder and never needs clearing by hand. Checking
 * the namespace's consumers alone left a race: two `coffee up` started together both found
 * none, since neither had started a consumer yet.
 */
import type { ChannelModel } from "amqplib";
import { withHeartbeat } from "./amqpTransport.ts";
import { jitteredBackoffMs } from "./backoff.ts";
import { connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import { errorMessage } from "./errors.ts";
import { settledWithin } from "./settledWithin.ts";

/** The lock queue's name in `namespace`; not one of the topology's queues, so nothing consumes or deletes it. */
export const lockQueueName = (namespace: string): string => `${namespace}.up-lock`;

/** The name the lock's connection shows in `rabbitmqctl list_connections` and the management UI. */
export const lockConnectionName = (namespace: string): string => `coffee up: namespace lock ${namespace}`;

/** What happens to a held lock while the cluster runs. */
export type NamespaceLockEvent =
  /** The lock's connection closed (the broker restarted, its node went away, the network failed); retrying. */
  | { type: "lost"; reason: string }
  /** Held again after a loss. */
  | { type: "regained" }
  /** A retry failed for another reason than the lock being held (no broker, refused, no such vhost); said when the reason changes. */
  | { type: "retrying"; reason: string }
  /**
   * While ours was lost, another connection holds it: another `coffee up`, or our own old
   * connection, which the broker drops only once it misses its heartbeats. Said once per loss;
   * retrying goes on, and `regained` follows if it frees.
   */
  | { type: "taken" };

/** How a lost lock is retried: the first delay, doubling up to the maximum, each jittered. */
export interface NamespaceLockOptions {
  /** Delay before the first retry (default 200). */
  retryInitialMs?: number;
  /** Longest delay between retries (default 5000). */
  retryMaxMs?: number;
}

/** A namespace lock taken by acquireNamespaceLock. */
export interface NamespaceLock {
  /** True while the lock's connection is open: this process, and no other, holds the namespace. */
  held(): boolean;
  /** Give the lock up (stops retrying, waits for a retry in flight, closes the connection). */
  release(): Promise<void>;
}

/** AMQP's reply code for an exclusive queue another connection holds. */
const RESOURCE_LOCKED = 405;

/**
 * How long release() waits for a retry in flight: a connect is bounded, but a declare on a
 * half-dead link only by heartbeats. A retry that ends later closes what it got by itself.
 */
const RELEASE_WAIT_MS = 2_000;

/**
 * Take `namespace`'s lock on `broker`: the lock, or null when another connection holds it.
 * Other failures (no broker) are thrown. Once taken, a lost connection is retried with backoff
 * until the lock is held again or released; `onEvent` hears each step.
 */
export async function acquireNamespaceLock(broker: BrokerAddress, namespace: string, onEvent: (e: NamespaceLockEvent) => void, opts: NamespaceLockOptions = {}): Promise<NamespaceLock | null> {
  const first = await declareLock(broker, namespace);
  if (first === null) return null;
  return new NamespaceHold(broker, namespace, onEvent, opts.retryInitialMs ?? 200, opts.retryMaxMs ?? 5_000, first);
}

/** A connection that declared the lock queue; `closed` is set the moment it closes, watched or not yet. */
interface LockConnection {
  conn: ChannelModel;
  closed: string | null;
  onClose: ((reason: string) => void) | null;
}

/** A taken lock: the connection holding it, and the retries after it is lost. */
class NamespaceHold implements NamespaceLock {
  private current: LockConnection | null = null;
  private released = false;
  private retaking: Promise<void> | null = null;
  private cancelWait: (() => void) | null = null;

  constructor(
    private readonly broker: BrokerAddress,
    private readonly namespace: string,
    private readonly onEvent: (e: NamespaceLockEvent) => void,
    private readonly retryInitialMs: number,
    private readonly retryMaxMs: number,
    first: LockConnection,
  ) {
    this.hold(first);
  }

  held(): boolean {
    return this.current !== null && this.current.closed === null;
  }

  async release(): Promise<void> {
    this.released = true;
    this.cancelWait?.();
    if (this.retaking) await settledWithin(this.retaking, RELEASE_WAIT_MS);
    const c = this.current;
    this.current = null;
    // Closing the connection drops the exclusive queue with it.
    await c?.conn.close().catch(() => {});
  }

  private hold(c: LockConnection): void {
    this.current = c;
    // amqplib may have closed it while the declare's answer was being handled, before anyone watched.
    if (c.closed !== null) return this.lose(c, c.closed);
    c.onClose = (reason) => this.lose(c, reason);
  }

  private lose(c: LockConnection, reason: string): void {
    if (this.released || c !== this.current) return;
    this.current = null;
    this.tell({ type: "lost", reason });
    this.retaking = this.retake();
  }

  /** The listener's own failure must not end the retries (or, thrown from a close event, amqplib's emit). */
  private tell(e: NamespaceLockEvent): void {
    try {
      this.onEvent(e);
    } catch {
      // The event is lost; the lock goes on.
    }
  }

  private async retake(): Promise<void> {
    let saidTaken = false;
    let lastFailure = "";
    for (let attempt = 0; !this.released; attempt++) {
      await this.wait(jitteredBackoffMs(attempt, this.retryInitialMs, this.retryMaxMs));
      if (this.released) return;
      let got: LockConnection | null;
      try {
        got = await declareLock(this.broker, this.namespace);
      } catch (err) {
        const reason = errorMessage(err);
        if (reason !== lastFailure) this.tell({ type: "retrying", reason });
        lastFailure = reason;
        continue;
      }
      if (this.released) return void (await got?.conn.close().catch(() => {}));
      if (got === null) {
        if (!saidTaken) this.tell({ type: "taken" });
        saidTaken = true;
        continue;
      }
      this.retaking = null;
      this.tell({ type: "regained" });
      return this.hold(got);
    }
  }

  /** A backoff delay that release() cuts short. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cancelWait = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cancelWait = done;
    });
  }
}

/** One connection that declares the lock queue: it (held open), or null if another connection holds the queue. */
async function declareLock(broker: BrokerAddress, namespace: string): Promise<LockConnection | null> {
  const { conn } = await connectBroker(broker, { shape: withHeartbeat, extra: { clientProperties: { connection_name: lockConnectionName(namespace) } } });
  const lock: LockConnection = { conn, closed: null, onClose: null };
  // Errors arrive as the rejections below and as `close`; without a listener they would throw.
  conn.on("error", () => {});
  conn.on("close", (err?: Error) => {
    lock.closed = err ? errorMessage(err) : "connection closed";
    lock.onClose?.(lock.closed);
  });
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    // Classic: a vhost whose default queue type is quorum would refuse an exclusive queue.
    await ch.assertQueue(lockQueueName(namespace), { exclusive: true, durable: false, arguments: { "x-queue-type": "classic" } });
    return lock;
  } catch (err) {
    await conn.close().catch(() => {});
    if ((err as { code?: unknown }).code === RESOURCE_LOCKED) return null;
    throw err;
  }
}
