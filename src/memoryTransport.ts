/**
 * In-process Transport: the same routing (direct exchange, bound queues), prefetch and ack
 * semantics as the AMQP one, without a broker. Used by `coffee up` when no broker is reachable,
 * and by tests of the roles.
 *
 * Backpressure: a queue holding `highWater` ready messages (in-flight unacked ones do not count)
 * makes `MemoryTransport.publish` on any routing key bound to it wait until a consumer takes one.
 * The dataflow is acyclic, so a waiting publisher always has a consumer downstream making room.
 */
import { CoffeeError, InternalError } from "./errors.ts";
import { queuesFor, type QueueSpec } from "./topology.ts";
import { checkMessageSize, dispatcher, type ConsumeOptions, type Consumer, type Delivery, type DeliveryHandler, type QueueDepth, type Transport } from "./transport.ts";

/** Delay before a message nacked with requeue is offered again, so a handler that always fails cannot starve the event loop. */
const REDELIVERY_DELAY_MS = 10;

/** A ready message. */
interface Queued {
  body: Uint8Array;
  redelivered: boolean;
}

/** A queue: its ready messages, its consumers, and publishers waiting for it to drop below the high-water mark. */
interface MemoryQueue {
  messages: Queued[];
  /** Ready messages kept; beyond it the oldest are dropped (RabbitMQ's x-max-length with drop-head). */
  maxLength: number;
  consumers: MemoryConsumer[];
  waiters: (() => void)[];
}

/** A consumer of one queue, as the broker sees it. */
interface MemoryConsumer {
  prefetch: number;
  inFlight: number;
  deliver: (d: Delivery) => void;
  active: boolean;
  /** Holds the queue alone (ConsumeOptions.exclusive). */
  exclusive: boolean;
}

/** Options of a MemoryBroker. */
export interface MemoryBrokerOptions {
  /** Ready messages per queue at which publishers to it wait (default 1000). */
  highWater?: number;
}

/** The shared "broker" of an in-process cluster: many MemoryTransports may use one. */
export class MemoryBroker {
  /** Queues by (namespaced) name. */
  readonly queues = new Map<string, MemoryQueue>();
  /** Queue names bound to each (namespaced) routing key. */
  readonly bindings = new Map<string, Set<string>>();
  /** Ready messages per queue at which `waitForRoom` waits. */
  readonly highWater: number;

  /** @param options `highWater`: ready messages per queue at which publishers wait (default 1000). */
  constructor(options: MemoryBrokerOptions = {}) {
    const highWater = options.highWater ?? 1000;
    if (!Number.isInteger(highWater) || highWater < 1) throw new InternalError(`highWater must be a positive integer, got ${highWater}`);
    this.highWater = highWater;
  }

  /** Create the queues not declared yet and add their bindings (idempotent). */
  declare(queues: readonly QueueSpec[]): void {
    for (const q of queues) {
      if (!this.queues.has(q.name)) this.queues.set(q.name, { messages: [], maxLength: q.maxLength ?? Infinity, consumers: [], waiters: [] });
      for (const key of q.bindings) {
        let set = this.bindings.get(key);
        if (!set) this.bindings.set(key, (set = new Set()));
        set.add(q.name);
      }
    }
  }

  /**
   * Enqueue a message on every queue bound to `key` right away, whatever their depth (a key
   * bound to nothing drops it; a queue at its maxLength drops its oldest). Publishers that
   * honour backpressure call `waitForRoom` first.
   */
  publish(key: string, body: Uint8Array): void {
    for (const q of this.boundQueues(key)) {
      q.messages.push({ body, redelivered: false });
      if (q.messages.length > q.maxLength) q.messages.splice(0, q.messages.length - q.maxLength);
      this.pump(q);
    }
  }

  /** Whether every queue bound to `key` holds fewer than `highWater` ready messages. */
  hasRoom(key: string): boolean {
    return this.fullQueue(key) === null;
  }

  /**
   * Resolves once every queue bound to `key` holds fewer than `highWater` ready messages (at
   * once if they already do). Waits on callbacks woken as consumers take messages; no polling.
   */
  async waitForRoom(key: string): Promise<void> {
    for (let full = this.fullQueue(key); full !== null; full = this.fullQueue(key)) {
      const q = full;
      await new Promise<void>((resolve) => q.waiters.push(resolve));
    }
  }

  /** Number of messages waiting in a queue (tests and status). */
  depth(name: string): number {
    return this.queues.get(name)?.messages.length ?? 0;
  }

  /** Attach a consumer to a declared queue and start delivering to it. */
  addConsumer(name: string, c: MemoryConsumer): void {
    const q = this.queues.get(name);
    if (!q) throw new InternalError(`queue ${name} is not declared`);
    // As RabbitMQ's ACCESS_REFUSED for a queue in exclusive use.
    if (q.consumers.some((other) => other.exclusive) || (c.exclusive && q.consumers.length > 0)) {
      throw new CoffeeError("QUEUE_IN_USE", `queue ${name} is in exclusive use by another consumer`);
    }
    q.consumers.push(c);
    this.pump(q);
  }

  /** Detach a consumer; its unsettled deliveries may still be acked or nacked. */
  removeConsumer(name: string, c: MemoryConsumer): void {
    const q = this.queues.get(name);
    if (q) q.consumers = q.consumers.filter((x) => x !== c);
  }

  /**
   * Hand ready messages to consumers with free prefetch slots (each delivery on a microtask),
   * then wake the publishers waiting for this queue if it is now below the high-water mark.
   */
  pump(q: MemoryQueue): void {
    let progressed = true;
    while (q.messages.length > 0 && progressed) {
      progressed = false;
      for (const c of q.consumers) {
        if (!c.active || c.inFlight >= c.prefetch || q.messages.length === 0) continue;
        const m = q.messages.shift()!;
        c.inFlight++;
        progressed = true;
        let settled = false;
        const settle = (requeue: boolean): boolean => {
          if (settled) return false;
          settled = true;
          c.inFlight--;
          if (requeue) {
            // Back at the head (as AMQP does), but offered again only after a delay: a handler
            // failing on every delivery must not spin through microtasks and starve timers and I/O.
            q.messages.unshift({ body: m.body, redelivered: true });
            setTimeout(() => this.pump(q), REDELIVERY_DELAY_MS);
          } else {
            queueMicrotask(() => this.pump(q));
          }
          return true;
        };
        const delivery: Delivery = { body: m.body, redelivered: m.redelivered, ack: () => settle(false), nack: (r) => void settle(r) };
        queueMicrotask(() => c.deliver(delivery));
      }
    }
    if (q.waiters.length > 0 && q.messages.length < this.highWater) {
      // Every waiter re-checks its keys when it runs; one that finds another queue full waits again.
      const waiters = q.waiters;
      q.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** The queues bound to `key`. */
  private *boundQueues(key: string): Iterable<MemoryQueue> {
    for (const name of this.bindings.get(key) ?? []) {
      const q = this.queues.get(name);
      if (q) yield q;
    }
  }

  /** A queue bound to `key` at or over the high-water mark, or null. */
  private fullQueue(key: string): MemoryQueue | null {
    for (const q of this.boundQueues(key)) if (q.messages.length >= this.highWater) return q;
    return null;
  }
}

/** A Transport bound to a MemoryBroker; `namespace` prefixes names as in AMQP. */
export class MemoryTransport implements Transport {
  private readonly consumers: { name: string; c: MemoryConsumer }[] = [];
  /** The last publish of this transport still waiting for room; later ones queue behind it, so publishes stay in call order. */
  private waiting: Promise<void> | null = null;

  /**
   * @param broker the shared broker
   * @param namespace prefix of every queue and routing key
   * @param onError receives errors thrown by delivery handlers (the delivery is requeued)
   */
  constructor(readonly broker: MemoryBroker, readonly namespace: string, private readonly onError: (err: unknown) => void = () => {}) {}

  private q(name: string): string {
    return `${this.namespace}.${name}`;
  }

  /**
   * Declare the (namespaced) queues and bindings on the broker (idempotent). Queues only quorum
   * queues need (the broker probe's) are left out, as on classic AMQP queues: nothing here has a
   * majority to lose.
   */
  async declare(queues: readonly QueueSpec[]): Promise<void> {
    this.broker.declare(queuesFor(queues, "classic").map((q) => ({ ...q, name: this.q(q.name), bindings: q.bindings.map((k) => this.q(k)) })));
  }

  /**
   * Enqueue on every queue bound to `routingKey`; waits first while any of them holds the
   * broker's `highWater` ready messages (backpressure). Publishes of one transport are enqueued
   * in call order, waiting or not.
   */
  async publish(routingKey: string, body: Uint8Array): Promise<void> {
    checkMessageSize(routingKey, body);
    const key = this.q(routingKey);
    if (this.waiting === null && this.broker.hasRoom(key)) {
      this.broker.publish(key, body);
      return;
    }
    const before = this.waiting;
    const mine = (async () => {
      if (before) await before;
      await this.broker.waitForRoom(key);
      this.broker.publish(key, body);
    })();
    // Never rejects: the broker's publish and waitForRoom do not throw.
    this.waiting = mine;
    try {
      await mine;
    } finally {
      if (this.waiting === mine) this.waiting = null;
    }
  }

  /** Start delivering a (namespaced) queue's messages to `handler`; a thrown error requeues. */
  async consume(queue: string, options: ConsumeOptions, handler: DeliveryHandler): Promise<Consumer> {
    const name = this.q(queue);
    const c: MemoryConsumer = { prefetch: options.prefetch, inFlight: 0, active: true, exclusive: options.exclusive === true, deliver: dispatcher(options, handler, this.onError) };
    this.broker.addConsumer(name, c);
    this.consumers.push({ name, c });
    return {
      cancel: async () => {
        c.active = false;
        this.broker.removeConsumer(name, c);
      },
    };
  }

  /** Ready messages and consumers of this namespace's queues, by unprefixed name. */
  async queueDepths(): Promise<QueueDepth[]> {
    const prefix = `${this.namespace}.`;
    return [...this.broker.queues]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, q]) => ({ queue: name.slice(prefix.length), messages: q.messages.length, consumers: q.consumers.length }));
  }

  /** Stop every consumer of this transport. */
  async close(): Promise<void> {
    for (const { name, c } of this.consumers) {
      c.active = false;
      this.broker.removeConsumer(name, c);
    }
  }
}
