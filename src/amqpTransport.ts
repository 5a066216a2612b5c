/**
 * RabbitMQ Transport (amqplib): one durable direct exchange per namespace, durable queues,
 * persistent messages, manual acks with prefetch, and publisher confirms pipelined up to a bound
 * (never one await per message before the next publish).
 *
 * The broker may go away at any time. The transport then reconnects with capped exponential
 * backoff and jitter, re-declares its topology, re-subscribes every consumer and republishes
 * every publish that was not confirmed (downstream dedup by lineage absorbs the repeats).
 * Deliveries from the lost connection are requeued by the broker; acking them is a no-op.
 */
import { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { jitteredBackoffMs } from "./backoff.ts";
import { brokerRefusedUs, connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import { brokerNodes } from "./brokerNodes.ts";
import { redactIn, redactUrl } from "./redact.ts";
import { settledWithin } from "./settledWithin.ts";
import { CoffeeError, ConfigError, errorMessage, hasCode } from "./errors.ts";
import { PROBE_KEY, queuesFor, type QueueSpec } from "./topology.ts";
import { brokerMessageLimit, checkMessageSize, dispatcher, MAX_MESSAGE_BYTES, type ConsumeOptions, type Consumer, type Delivery, type DeliveryHandler, type QueueDepth, type Transport } from "./transport.ts";

const EMPTY_BODY = new Uint8Array(0);

/**
 * How long a consumer's cancel or a connection's close waits for the broker's answer: a broker
 * that stopped answering must not hang a shutdown. (A publishing connection the broker says it
 * blocks is not waited for at all: the broker reads nothing from it until its alarm clears.)
 */
const CLOSE_WAIT_MS = 5_000;

/**
 * Close `conn`; one the broker does not answer within `waitMs` (it reads nothing from a blocked
 * connection) ends with its socket, and the broker then requeues its unacked deliveries as for a
 * crash.
 */
async function closeConnection(conn: ChannelModel, waitMs: number): Promise<void> {
  if (await settledWithin(conn.close(), waitMs)) return;
  // amqplib's types leave out the connection's stream, which it has (lib/connection.js).
  // Destroyed with an error, which amqplib listens for (it ignores a bare 'close').
  const stream = (conn.connection as unknown as { stream?: { destroy(err?: Error): void } }).stream;
  stream?.destroy(new CoffeeError("BROKER_UNAVAILABLE", "the broker did not answer the connection's close (blocked by a resource alarm?); the socket was closed"));
}


/** Connection state changes, for logs and health status. */
export type BrokerEvent =
  | { type: "connected"; url: string }
  | { type: "disconnected"; reason: string }
  | { type: "reconnecting"; attempt: number; delayMs: number; lastError: string }
  /** The broker stopped taking publishes (a memory or disk alarm): they wait, unconfirmed, until `unblocked`. */
  | { type: "blocked"; reason: string }
  | { type: "unblocked" }
  /** The broker nacked a publish, or left it unanswered past confirmTimeoutMs (`reason` says which): it goes again on a new publishing channel, opened in `delayMs`. */
  | { type: "publisher-replaced"; reason: string; delayMs: number }
  /** A declared queue was gone (deleted by an operator?) when its depth was read: declared again, empty; what it held is lost. */
  | { type: "queue-redeclared"; queue: string }
  /** After a reconnect, an exclusive consumer's queue was held by another connection: asked for again, with backoff, until it is free. */
  | { type: "consumer-refused"; queue: string };

/** Durable queue flavours RabbitMQ offers; quorum queues replicate across cluster nodes. */
export const QUEUE_TYPES = ["classic", "quorum"] as const;
/** One of QUEUE_TYPES. */
export type QueueType = (typeof QUEUE_TYPES)[number];

/** Options of the AMQP transport. */
export interface AmqpOptions {
  broker: BrokerAddress;
  namespace: string;
  /** classic: one node's durable queue; quorum: Raft-replicated across a RabbitMQ cluster. */
  queueType: QueueType;
  /** Unconfirmed publishes allowed at once; further publishes wait for confirms. */
  maxUnconfirmed: number;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs` (with jitter). */
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /**
   * A publish the broker neither confirms nor nacks for this long (while it does not block the
   * connection) is sent again on a new publishing channel, as a nacked one is. Default
   * DEFAULT_CONFIRM_TIMEOUT_MS.
   */
  confirmTimeoutMs?: number;
  onEvent: (event: BrokerEvent) => void;
  onError: (err: unknown) => void;
  /**
   * Who the connections belong to (a role's name: `gateway`, `agg-q4`): they show in
   * `rabbitmqctl list_connections name client_properties` and the management UI as
   * `coffee <name> (publish)` and `coffee <name> (consume)`, so an operator can tell whose is whose.
   */
  connectionName?: string;
}

/** The client properties that name a connection of `owner` used for `use`. */
function namedConnection(owner: string | undefined, use: "publish" | "consume"): { extra?: { clientProperties: { connection_name: string } } } {
  return owner === undefined ? {} : { extra: { clientProperties: { connection_name: `coffee ${owner} (${use})` } } };
}

interface Link {
  /** Publishes only: RabbitMQ's flow control and resource alarms block a publishing connection. */
  conn: ChannelModel;
  /**
   * Consumers and status checks: a connection of their own, so that while the broker blocks
   * publishing (it then reads nothing from that connection) deliveries still come and acks still
   * reach it, as RabbitMQ advises.
   */
  consumeConn: ChannelModel;
  pub: ConfirmChannel;
  /**
   * Settlers of this link's unconfirmed publishes. amqplib does not reliably fail them when the
   * channel closes (its loop stops at the first slot an out-of-order confirm left empty), so the
   * transport fails them itself when the link is lost.
   */
  pending: Map<(err: unknown) => void, ConfirmChannel>;
  /** A publishing channel being opened to replace one that failed a publish (nacked it, or left it unanswered), if any. */
  replacing: Promise<void> | null;
  /** Index of the node (brokerNodes of the URL) the publishing connection is to. */
  node: number;
}

/**
 * How long a publish may go unanswered before its channel is given up: far above a healthy
 * broker's confirm latency (milliseconds, seconds under load), so that only a channel that lost
 * track of it is replaced (RabbitMQ 3.10 was seen never answering a publish to a quorum queue
 * that was in flight when the queue's leader node died, test/rabbitMajorityLoss.test.ts).
 */
export const DEFAULT_CONFIRM_TIMEOUT_MS = 30_000;

/** The error amqplib 0.10 gives a confirm callback for a basic.nack (lib/channel.js). */
const AMQPLIB_NACK = "message nacked";

/** What publishOn tells its caller about one try: the channel it used, and whether the broker nacked it. */
interface PublishAttempt {
  pub: ConfirmChannel | null;
  nacked: boolean;
}

interface ConsumerEntry {
  queue: string;
  options: ConsumeOptions;
  /**
   * One for the consumer's life, not one per channel: after a reconnect, deliveries of the new
   * channel wait behind the handler still running for the old one, so a serial consumer stays
   * serial; deliveries of a channel that is gone are skipped (the broker requeued them).
   */
  dispatch: (d: Delivery) => void;
  channel: Channel | null;
  tag: string | null;
  cancelled: boolean;
  /**
   * Its consume() has not returned yet: that call subscribes it (once a link is up) or rejects to
   * its caller, so a reconnect meanwhile leaves it alone. Subscribed by both, a refusal or failure
   * would be reported as a reconnect's (consumer-refused, a failed attempt) for a consumer its
   * caller is told it never got.
   */
  awaitingCaller: boolean;
  /**
   * The subscription on `link`, under way or made (cleared when it failed). consume() and a
   * reconnect no longer both subscribe an entry (a reconnect skips it while `awaitingCaller`); the
   * guard stays so that no path (consume(), a reconnect, a refused consumer's retry) subscribes one
   * entry twice on one link, which would leave a channel whose deliveries no one settles.
   */
  subscription: { link: Link; done: Promise<void> } | null;
}

/** A Transport over two RabbitMQ connections (one publishes, one consumes) that survives broker restarts. */
export class AmqpTransport implements Transport {
  private link: Link | null = null;
  /** The channel each delivery came on, to skip those whose channel was replaced meanwhile. */
  private readonly deliveredOn = new WeakMap<Delivery, Channel>();
  private unconfirmed = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly linkWaiters: (() => void)[] = [];
  private declared: QueueSpec[] = [];
  private readonly consumers = new Set<ConsumerEntry>();
  private closing = false;
  private reconnecting = false;
  /** True while the broker says it blocks the publishing connection (a resource alarm): it reads nothing from it. */
  private blocked = false;
  /** When the broker last unblocked the publishing connection (performance.now()): the time it was blocked does not count toward confirmTimeoutMs. */
  private unblockedAtMs = 0;
  /** Lowered once the broker closed a channel over a message larger than its max_message_size. */
  private messageLimit = MAX_MESSAGE_BYTES;
  /** Channel for queue-depth checks, kept apart so a failed check never closes a working channel. */
  private side: { link: Link; ch: Channel } | null = null;
  /**
   * Publishing channels replaced in a row (for nacks or unanswered publishes), and when the last
   * was: a replacement waits until jitteredBackoffMs(replacements) has passed since the one
   * before, so a queue that keeps nacking costs a new channel (and a resend of what was in
   * flight) at most that often. One after a calm of twice reconnectMaxMs starts the count again.
   */
  private replacements = 0;
  private lastReplacedMs = 0;
  /** The broker's node URLs (src/brokerNodes.ts). */
  private readonly nodes: string[];
  /** The node tried first on the next connect: a random one at first, so a cluster's processes spread over its nodes. */
  private nextNode: number;
  /** opts.confirmTimeoutMs, or its default. */
  private readonly confirmTimeoutMs: number;

  private constructor(private readonly opts: AmqpOptions) {
    this.nodes = brokerNodes(opts.broker.url);
    this.nextNode = Math.floor(Math.random() * this.nodes.length);
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
    if (!Number.isInteger(this.confirmTimeoutMs) || this.confirmTimeoutMs < 1) throw new ConfigError(`confirmTimeoutMs must be a positive integer, got ${this.confirmTimeoutMs}`);
  }

  /**
   * Connect (retrying with backoff until the broker answers) and declare the exchange. A broker
   * that answers and refuses us (credentials, vhost, TLS) is CONFIG_INVALID at once: no retry
   * would change that, and a process retrying it forever looks alive while doing nothing.
   */
  static async open(opts: AmqpOptions): Promise<AmqpTransport> {
    const t = new AmqpTransport(opts);
    await t.reconnectLoop(false, true);
    return t;
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.link !== null;
  }

  /** The namespace's durable direct exchange. */
  private get exchange(): string {
    return `${this.opts.namespace}.data`;
  }

  private q(name: string): string {
    return `${this.opts.namespace}.${name}`;
  }

  private wake(): void {
    for (const f of this.waiters.splice(0)) f();
  }

  /** One connection attempt: both connections, channel, exchange, queues, consumers; all or nothing. */
  private async connectOnce(): Promise<void> {
    // Listened to from the moment each exists: an 'error' nobody listens for (a heartbeat timeout
    // while the other connection opens) would end the process, and a close before the link is
    // made must fail the attempt rather than leave a dead connection in it.
    let closedEarly: string | null = null;
    // What the last link's publishing connection was told says nothing about this attempt's.
    this.blocked = false;
    const watched = (c: ChannelModel): ChannelModel => {
      c.on("error", (err: Error) => this.opts.onError(err));
      c.once("close", (err?: Error) => { closedEarly ??= err ? err.message : "connection closed"; });
      return c;
    };
    // Both connections to one node, the one after a lost link's (src/brokerNodes.ts): a node that
    // just went away is tried last, not waited on first.
    const first = await connectBroker(this.opts.broker, { shape: withHeartbeat, start: this.nextNode, ...namedConnection(this.opts.connectionName, "publish") });
    const conn = watched(first.conn);
    let consumeConn: ChannelModel | null = null;
    try {
      consumeConn = watched((await connectBroker(this.opts.broker, { shape: withHeartbeat, start: first.node, ...namedConnection(this.opts.connectionName, "consume") })).conn);
      const pub = await this.openPublisher(conn);
      await pub.assertExchange(this.exchange, "direct", { durable: true });
      await this.declareOn(pub, this.declared);
      if (closedEarly !== null) throw new CoffeeError("BROKER_UNAVAILABLE", `a broker connection closed as it opened: ${closedEarly}`);
      const link: Link = { conn, consumeConn, pub, pending: new Map(), replacing: null, node: first.node };
      for (const c of [conn, consumeConn]) c.on("close", (err?: Error) => this.lost(link, err ? err.message : "connection closed"));
      // Without these a broker's resource alarm looks like a hang: publishes simply never confirm.
      conn.on("blocked", (reason: string) => {
        if (this.link === link) this.blocked = true;
        this.opts.onEvent({ type: "blocked", reason });
      });
      conn.on("unblocked", () => {
        if (this.link === link) {
          this.blocked = false;
          this.unblockedAtMs = performance.now();
        }
        this.opts.onEvent({ type: "unblocked" });
      });
      this.watchPublisher(link, pub);
      this.link = link;
      for (const entry of this.consumers) if (!entry.cancelled && !entry.awaitingCaller) await this.resubscribe(link, entry);
    } catch (err) {
      this.link = null;
      // This node took the connections and failed after (a declare, a close as it opened): the
      // next attempt starts at the next node, or it would meet the same failure every time.
      this.nextNode = first.node + 1;
      await this.closeConnections(conn, consumeConn);
      throw err;
    }
  }

  /** A confirm channel on `conn` for publishing, wired to this transport. */
  private async openPublisher(conn: ChannelModel): Promise<ConfirmChannel> {
    const pub = await conn.createConfirmChannel();
    // The publishing channel can die alone (e.g. a 404 from the broker): see watchPublisher.
    pub.on("error", (err: Error) => {
      // Retried, a message the broker finds too large would close the channel again, forever.
      const limit = brokerMessageLimit(errorMessage(err));
      if (limit !== null) this.messageLimit = Math.min(this.messageLimit, limit);
      this.opts.onError(err);
    });
    pub.on("drain", () => this.wake());
    return pub;
  }

  /** A publishing channel that closes while it is still `link`'s: the link is replaced. */
  private watchPublisher(link: Link, pub: ConfirmChannel): void {
    // Deferred a microtask: when the whole connection closes (an operator's close_connection, a
    // broker shutting down), amqplib closes its channels first, and the connection's own close,
    // which says why, must be the one the link is lost for.
    pub.on("close", () => queueMicrotask(() => {
      if (link.pub === pub) this.recycle("publishing channel closed", link);
    }));
  }

  /**
   * Replace `link`'s publishing channel `failing` (it nacked a publish, or left one unanswered) by
   * a new one on the same connection, once however many of its publishes did. Consumers keep
   * their channels. Publishes still awaiting the old channel's confirms fail and go again on the
   * new one. If no channel opens, the link is.
   */
  private async replacePublisher(link: Link, failing: ConfirmChannel, reason: string): Promise<void> {
    if (link.replacing) return link.replacing;
    if (this.link !== link || link.pub !== failing) return;
    const now = performance.now();
    if (now - this.lastReplacedMs > this.opts.reconnectMaxMs * 2) this.replacements = 0;
    const delayMs = this.replacements === 0 ? 0 : Math.max(0, this.lastReplacedMs + jitteredBackoffMs(this.replacements - 1, this.opts.reconnectInitialMs, this.opts.reconnectMaxMs) - now);
    this.opts.onEvent({ type: "publisher-replaced", reason, delayMs: Math.round(delayMs) });
    link.replacing = (async () => {
      try {
        if (delayMs > 0) await Bun.sleep(delayMs);
        if (this.link !== link) return;
        const pub = await this.openPublisher(link.conn);
        if (this.link !== link) { void pub.close().catch(() => {}); return; }
        this.watchPublisher(link, pub);
        link.pub = pub;
        this.replacements++;
        this.lastReplacedMs = performance.now();
        for (const [settle, ch] of [...link.pending]) if (ch === failing) settle(new CoffeeError("BROKER_UNAVAILABLE", `its channel was replaced (${reason})`));
        void failing.close().catch(() => {});
      } catch (err) {
        this.recycle(`no new publishing channel to replace one that failed a publish: ${errorMessage(err)}`, link);
      } finally {
        link.replacing = null;
      }
    })();
    return link.replacing;
  }

  /** Retry connectOnce with capped exponential backoff and jitter until it succeeds (or, with `refusalIsFinal`, is refused). */
  private async reconnectLoop(wait: boolean, refusalIsFinal = false): Promise<void> {
    this.reconnecting = true;
    let lastError = "";
    for (let attempt = 0; !this.closing; attempt++) {
      if (wait || attempt > 0) {
        const delayMs = jitteredBackoffMs(attempt, this.opts.reconnectInitialMs, this.opts.reconnectMaxMs);
        this.opts.onEvent({ type: "reconnecting", attempt: attempt + 1, delayMs, lastError });
        await Bun.sleep(delayMs);
        if (this.closing) break;
      }
      try {
        await this.connectOnce();
        // Closed while this attempt was opening: close() found no link to close, so close it here.
        if (this.closing) {
          const link = this.link;
          this.link = null;
          if (link) await this.closeConnections(link.conn, link.consumeConn);
          break;
        }
        this.reconnecting = false;
        this.opts.onEvent({ type: "connected", url: redactUrl(this.nodes[this.link?.node ?? 0] ?? this.opts.broker.url) });
        for (const f of this.linkWaiters.splice(0)) f();
        this.wake();
        return;
      } catch (err) {
        lastError = redactIn(errorMessage(err), this.opts.broker.url);
        if (refusalIsFinal && brokerRefusedUs(lastError)) {
          this.reconnecting = false;
          throw new ConfigError(`the broker at ${redactUrl(this.opts.broker.url)} refused the connection: ${lastError} (fix AMQP_URL, its credentials or AMQP_CA_FILE)`);
        }
      }
    }
    this.reconnecting = false;
  }

  /** A connection of `link` is gone: close the other, forget both and reconnect in the background. */
  private lost(link: Link, reason: string): void {
    for (const settle of [...link.pending.keys()]) settle(new CoffeeError("BROKER_UNAVAILABLE", `connection lost: ${reason}`));
    if (this.link !== link) return;
    this.link = null;
    this.nextNode = link.node + 1;
    // A connection already closed answers at once (amqplib rejects, ignored); the other is closed for good.
    void this.closeConnections(link.conn, link.consumeConn);
    // The subscriptions go with the link (which they would otherwise keep from being collected).
    for (const entry of this.consumers) { entry.channel = null; entry.tag = null; entry.subscription = null; }
    this.wake();
    if (this.closing) return;
    this.opts.onEvent({ type: "disconnected", reason });
    if (!this.reconnecting) void this.reconnectLoop(true);
  }

  /**
   * Force a reconnect (a channel died while the connection lived, or the broker nacked a
   * publish) if `link` is still the current one: a late event of a replaced link must not cut
   * the link that replaced it.
   */
  private recycle(reason: string, link = this.link): void {
    if (!link || this.closing || this.link !== link) return;
    this.opts.onError(new CoffeeError("BROKER_UNAVAILABLE", `${reason}; reconnecting`));
    this.lost(link, reason);
  }

  private async linked(): Promise<Link> {
    while (!this.link) {
      if (this.closing) throw new CoffeeError("BROKER_UNAVAILABLE", "transport closed");
      await new Promise<void>((r) => this.linkWaiters.push(r));
    }
    return this.link;
  }

  private async declareOn(ch: Channel, queues: readonly QueueSpec[]): Promise<void> {
    // Classic queues are declared without the argument, so namespaces created before the
    // option existed still match; quorum must be asked for.
    const typeArgs = this.opts.queueType === "quorum" ? { "x-queue-type": "quorum" } : {};
    for (const q of queues) {
      // drop-head: a queue at its cap takes the publish (and confirms it) and drops its oldest.
      const args = q.maxLength === undefined ? typeArgs : { ...typeArgs, "x-max-length": q.maxLength, "x-overflow": "drop-head" };
      try {
        await ch.assertQueue(this.q(q.name), { durable: true, arguments: args });
      } catch (err) {
        if (/PRECONDITION[-_]FAILED/.test(errorMessage(err))) {
          throw new CoffeeError("QUEUE_MISMATCH", `queue ${this.q(q.name)} exists with other settings than --queue-type ${this.opts.queueType} asks for (${errorMessage(err)}); use the type it was created with, or another --namespace`);
        }
        throw err;
      }
      for (const key of q.bindings) await ch.bindQueue(this.q(q.name), this.exchange, this.q(key));
    }
  }

  /** True between the broker's connection.blocked and connection.unblocked on the current link. */
  publishingBlocked(): boolean {
    return this.blocked;
  }

  /** An empty message to PROBE_KEY (PROBE_QUEUE on quorum queues, which keeps nothing): confirmed once the broker takes publishes. */
  probePublish(): Promise<void> {
    return this.publish(PROBE_KEY, EMPTY_BODY);
  }

  /** Declare durable queues bound to the namespace's exchange (idempotent; redone on reconnect); quorumOnly ones only on quorum queues. */
  async declare(specs: readonly QueueSpec[]): Promise<void> {
    const queues = queuesFor(specs, this.opts.queueType);
    const names = new Set(queues.map((q) => q.name));
    this.declared = [...this.declared.filter((q) => !names.has(q.name)), ...queues];
    for (;;) {
      const link = await this.linked();
      const pub = link.pub;
      try {
        return await this.declareOn(pub, queues);
      } catch (err) {
        // Its channel replaced meanwhile (a nack elsewhere) on a live link: again on the new one.
        if (this.link !== link || link.pub === pub) throw err;
      }
    }
  }

  /**
   * Publish on one link; resolves on the broker's confirm. `attempt` learns which channel the
   * publish went on and whether the broker itself nacked it (rather than the link or channel
   * being given up).
   */
  private async publishOn(link: Link, routingKey: string, body: Uint8Array, attempt: PublishAttempt): Promise<void> {
    while (this.unconfirmed >= this.opts.maxUnconfirmed && this.link === link) await new Promise<void>((r) => this.waiters.push(r));
    if (this.link !== link) throw new CoffeeError("BROKER_UNAVAILABLE", "connection lost before publishing");
    this.unconfirmed++;
    const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const pub = link.pub;
    attempt.pub = pub;
    let writable = true;
    const confirmed = new Promise<void>((resolve, reject) => {
      let done = false;
      // Unanswered for too long: the channel lost track of it (DEFAULT_CONFIRM_TIMEOUT_MS). Time
      // the broker blocked the connection does not count: then no publish is answered, rightly,
      // and a backlog follows the unblocking.
      const armedAtMs = performance.now();
      const overdue = (): void => {
        if (done || this.link !== link || link.pub !== pub) return;
        const unansweredMs = performance.now() - Math.max(armedAtMs, this.unblockedAtMs);
        if (this.blocked || unansweredMs < this.confirmTimeoutMs) {
          timer = setTimeout(overdue, this.blocked ? this.confirmTimeoutMs : this.confirmTimeoutMs - unansweredMs).unref();
          return;
        }
        void this.replacePublisher(link, pub, `the broker neither confirmed nor nacked a publish to ${routingKey} for ${this.confirmTimeoutMs / 1000} s`);
      };
      let timer = setTimeout(overdue, this.confirmTimeoutMs).unref();
      const settled = (err: unknown, fromBroker: boolean): void => {
        // Called by amqplib's confirm, or by lost() or replacePublisher(); whichever comes first counts.
        if (done) return;
        done = true;
        clearTimeout(timer);
        link.pending.delete(giveUp);
        this.unconfirmed--;
        this.wake();
        if (!err) return resolve();
        // amqplib calls back with "message nacked" for a basic.nack, and with "channel closed"
        // for every publish unconfirmed when the channel goes: only the first is the broker's no.
        attempt.nacked = fromBroker && err instanceof Error && err.message === AMQPLIB_NACK;
        reject(new CoffeeError("BROKER_UNAVAILABLE", `publish to ${routingKey} not confirmed: ${errorMessage(err)}`));
      };
      const giveUp = (err: unknown): void => settled(err, false);
      link.pending.set(giveUp, pub);
      try {
        writable = pub.publish(this.exchange, this.q(routingKey), buf, { persistent: true }, (err: unknown) => settled(err, true));
      } catch (err) {
        // amqplib throws synchronously on a closed channel; the slot must still be released.
        giveUp(err);
      }
    });
    // The socket buffer is full: let it drain before the next publish is written.
    if (!writable) await new Promise<void>((r) => this.waiters.push(r));
    return confirmed;
  }

  /**
   * Publish persistently; resolves once the broker confirmed it. A publish that is not
   * confirmed because the connection was lost is sent again on the next connection; one the
   * broker nacked or left unanswered past confirmTimeoutMs, on a new publishing channel
   * (replacePublisher), opened no more often than a backoff that grows while such failures
   * follow one another allows.
   */
  async publish(routingKey: string, body: Uint8Array): Promise<void> {
    for (;;) {
      checkMessageSize(routingKey, body, this.messageLimit);
      const link = await this.linked();
      // Checked again: the limit may have been learnt while this publish waited for a link.
      checkMessageSize(routingKey, body, this.messageLimit);
      const attempt: PublishAttempt = { pub: null, nacked: false };
      try {
        return await this.publishOn(link, routingKey, body, attempt);
      } catch (err) {
        if (this.closing) throw err;
        // A nack: again, but not on the same channel. RabbitMQ 3.10 was seen nacking every
        // publish to a quorum queue, for minutes, on a channel opened while that queue's leader
        // node was down, while a new channel's were acked (test/rabbitNodeLoss.test.ts).
        if (attempt.nacked && attempt.pub) {
          await this.replacePublisher(link, attempt.pub, `the broker nacked a publish to ${routingKey}`);
          continue;
        }
        // Lost connection or a replaced channel: again on what is current. Any other failure on
        // a live link and channel: again after a pause, not in a loop that starves the timers.
        if (this.link === link && link.pub === attempt.pub) await Bun.sleep(this.opts.reconnectInitialMs);
      }
    }
  }

  private async subscribe(link: Link, entry: ConsumerEntry): Promise<void> {
    const ch = await link.consumeConn.createChannel();
    /** The broker refused an exclusive consumer (another connection holds the queue): the caller is told, nothing is recycled. */
    let refused: Error | null = null;
    ch.on("error", (err: Error) => {
      if (entry.options.exclusive && EXCLUSIVE_REFUSAL.test(errorMessage(err))) refused = err;
      else this.opts.onError(err);
    });
    // Deferred as the publishing channel's close is (see watchPublisher).
    ch.on("close", () => queueMicrotask(() => {
      if (refused === null && !entry.cancelled && entry.channel === ch && this.link === link) this.recycle(`channel of consumer on ${entry.queue} closed`);
    }));
    await ch.prefetch(entry.options.prefetch);
    // Cancelled while the channel opened (a reconnect's or a retry's subscription): cancel()
    // found no channel to close, and one consumed on now would hold deliveries no one settles.
    if (entry.cancelled) {
      void ch.close().catch(() => {});
      return;
    }
    // Acks on a channel that is gone are meaningless: the broker requeued those deliveries.
    const settle = (f: () => void): boolean => {
      if (entry.channel !== ch) return false;
      try {
        f();
        return true;
      } catch (err) {
        this.opts.onError(err);
        return false;
      }
    };
    entry.channel = ch;
    const consuming = this.exclusiveLock(ch, entry).then(() => ch.consume(this.q(entry.queue), (msg: ConsumeMessage | null) => {
      if (msg === null) {
        if (!entry.cancelled) this.recycle(`the broker cancelled the consumer on ${entry.queue} (the queue was deleted, or its node went away; a deleted queue is declared again on reconnect, and the messages it held are lost)`, link);
        return;
      }
      // Settled once: a second ack or nack of one delivery tag (an ack queued behind a group
      // commit after the handler threw and was nacked, say) is a 406 that closes the channel.
      let settled = false;
      const once = (f: () => void): boolean => {
        if (settled) return false;
        settled = true;
        return settle(f);
      };
      const delivery: Delivery = {
        body: msg.content,
        redelivered: msg.fields.redelivered,
        ack: () => once(() => ch.ack(msg)),
        nack: (requeue) => void once(() => ch.nack(msg, false, requeue)),
      };
      this.deliveredOn.set(delivery, ch);
      entry.dispatch(delivery);
    }, { noAck: false, exclusive: entry.options.exclusive === true }));
    try {
      entry.tag = (await consuming).consumerTag;
    } catch (err) {
      if (refused === null) throw err;
      entry.channel = null;
      throw new CoffeeError("QUEUE_IN_USE", `queue ${this.q(entry.queue)} is in exclusive use by another consumer (${errorMessage(refused)})`);
    }
  }

  /**
   * For an exclusive consumer: declare its lock queue, exclusive to the consuming connection, so
   * that the broker refuses (405 RESOURCE_LOCKED) every other connection's while this one lives.
   * basic.consume's own exclusive flag alone is not enforced on quorum queues (RabbitMQ 3.x); a
   * lock queue is, whatever the consumed queue's type, and goes with the connection (a process
   * killed included). Classic, as a vhost whose default type is quorum would refuse it exclusive.
   */
  private async exclusiveLock(ch: Channel, entry: ConsumerEntry): Promise<void> {
    if (!entry.options.exclusive) return;
    await ch.assertQueue(this.q(consumerLockName(entry.queue)), { exclusive: true, durable: false, arguments: { "x-queue-type": "classic" } });
  }

  /**
   * Subscribe `entry` on a new link; an exclusive one whose queue another connection holds
   * (QUEUE_IN_USE) does not fail the link (publishing and the other consumers go on): it is
   * asked for again in the background, with backoff, for as long as the link lasts and the
   * consumer is wanted (`consumer-refused`, said once per such wait).
   */
  private async resubscribe(link: Link, entry: ConsumerEntry): Promise<void> {
    try {
      await this.subscribeOnce(link, entry);
    } catch (err) {
      // Cancelled meanwhile (its channel closed under a pending consume or lock declare): nothing
      // to report or retry, and no reason to fail the link for the other consumers.
      if (entry.cancelled) return;
      if (!hasCode(err, "QUEUE_IN_USE")) throw err;
      this.opts.onEvent({ type: "consumer-refused", queue: entry.queue });
      void (async () => {
        for (let attempt = 0; ; attempt++) {
          await Bun.sleep(jitteredBackoffMs(attempt, this.opts.reconnectInitialMs, this.opts.reconnectMaxMs));
          if (entry.cancelled || entry.channel !== null || this.link !== link || this.closing) return;
          try {
            return await this.subscribeOnce(link, entry);
          } catch (retryErr) {
            if (!hasCode(retryErr, "QUEUE_IN_USE")) return;
          }
        }
      })();
    }
  }

  /** `subscribe`, unless `entry` is subscribed on `link` already or being so: then that subscription. */
  private subscribeOnce(link: Link, entry: ConsumerEntry): Promise<void> {
    const made = entry.subscription;
    if (made !== null && made.link === link) return made.done;
    const done: Promise<void> = this.subscribe(link, entry).catch((err: unknown) => {
      // Refused or failed: a later attempt (a retry, the next link) subscribes anew.
      if (entry.subscription?.done === done) entry.subscription = null;
      throw err;
    });
    entry.subscription = { link, done };
    return done;
  }

  /** Consume on a channel of its own with the given prefetch; re-subscribed after reconnects. */
  async consume(queue: string, options: ConsumeOptions, handler: DeliveryHandler): Promise<Consumer> {
    const entry: ConsumerEntry = { queue, options, dispatch: () => {}, channel: null, tag: null, cancelled: false, awaitingCaller: true, subscription: null };
    // A delivery of a cancelled consumer, or of a channel since replaced, is left unsettled: the
    // broker delivers it again once that channel is gone.
    entry.dispatch = dispatcher(options, (d) => (!entry.cancelled && this.deliveredOn.get(d) === entry.channel ? handler(d) : undefined), (err) => this.opts.onError(err));
    this.consumers.add(entry);
    try {
      // Subscribed here, on the link up now: a reconnect leaves an entry alone until its consume() returns.
      await this.subscribeOnce(await this.linked(), entry);
    } catch (err) {
      // Refused (QUEUE_IN_USE) or failed (a queue that does not exist, a link lost meanwhile): not
      // consuming, and not to be subscribed again at the next reconnect, since the caller, told it
      // failed, holds no Consumer to cancel it with (and one that fails so would fail every reconnect after).
      entry.cancelled = true;
      this.consumers.delete(entry);
      throw err;
    } finally {
      entry.awaitingCaller = false;
    }
    return {
      cancel: async () => {
        entry.cancelled = true;
        this.consumers.delete(entry);
        entry.subscription = null;
        const ch = entry.channel;
        entry.channel = null;
        if (!ch) return;
        const tag = entry.tag;
        // Failed: the channel died with its connection, nothing left to cancel. Unanswered (a
        // broker that stopped answering): the channel goes with the connection at close, and the
        // broker requeues what it delivered.
        await settledWithin((async () => {
          if (tag) await ch.cancel(tag);
          // The hold ends with the consumer, not only with the connection.
          if (options.exclusive) await ch.deleteQueue(this.q(consumerLockName(queue)));
          await ch.close();
        })(), CLOSE_WAIT_MS);
      },
    };
  }

  /**
   * Ready messages and consumers of every declared queue, by passive declares on the side
   * channel. A queue deleted under us fails its check (404, which closes the side channel): it is
   * declared again, with its bindings, on a new channel (a `queue-redeclared` event), so that
   * publishes routed to it are kept again and the depths stay known; the others are read on.
   */
  async queueDepths(): Promise<QueueDepth[]> {
    const link = this.link;
    if (!link) throw new CoffeeError("BROKER_UNAVAILABLE", "not connected to the broker");
    const out: QueueDepth[] = [];
    for (const q of this.declared) {
      const ch = await this.sideChannel(link);
      try {
        const r = await ch.checkQueue(this.q(q.name));
        out.push({ queue: q.name, messages: r.messageCount, consumers: r.consumerCount });
      } catch (err) {
        if (!/NOT[-_]FOUND/.test(errorMessage(err)) || this.link !== link) throw err;
        // The 404 closed it (its close event may not have come yet).
        if (this.side?.ch === ch) this.side = null;
        await this.declareOn(await this.sideChannel(link), [q]);
        this.opts.onEvent({ type: "queue-redeclared", queue: q.name });
        const r = await (await this.sideChannel(link)).checkQueue(this.q(q.name));
        out.push({ queue: q.name, messages: r.messageCount, consumers: r.consumerCount });
      }
    }
    return out;
  }

  /** The side channel for depth checks on `link`, opened afresh when a failed check closed it. */
  private async sideChannel(link: Link): Promise<Channel> {
    if (this.side?.link === link) return this.side.ch;
    const fresh = await link.consumeConn.createChannel();
    // The failure also rejects the check that caused it; the event needs a listener only so
    // it is not an unhandled error.
    fresh.on("error", () => {});
    fresh.on("close", () => { if (this.side?.ch === fresh) this.side = null; });
    this.side = { link, ch: fresh };
    return fresh;
  }

  /** Close both connections and stop reconnecting (idempotent). */
  async close(): Promise<void> {
    this.closing = true;
    for (const f of this.linkWaiters.splice(0)) f();
    this.wake();
    const link = this.link;
    this.link = null;
    if (!link) return;
    await this.closeConnections(link.conn, link.consumeConn);
  }

  /** Close a link's connections; a blocked publishing connection is not read at all, so it is not waited for. */
  private async closeConnections(conn: ChannelModel, consumeConn: ChannelModel | null): Promise<void> {
    await Promise.all([closeConnection(conn, this.blocked ? 0 : CLOSE_WAIT_MS), consumeConn ? closeConnection(consumeConn, CLOSE_WAIT_MS) : null]);
  }
}

/**
 * How RabbitMQ refuses an exclusive consumer: its lock queue declared by another connection (405
 * RESOURCE_LOCKED), or a consume on a queue another connection consumes exclusively (403).
 */
const EXCLUSIVE_REFUSAL = /RESOURCE_LOCKED|ACCESS_REFUSED.*exclusive use/;

/** The lock queue of an exclusive consumer of `queue` (unprefixed; see exclusiveLock). */
export const consumerLockName = (queue: string): string => `${queue}.consumer-lock`;

/**
 * The AMQP heartbeat interval in seconds the URL asks for (`heartbeat=`, of its first node naming
 * one); DEFAULT_HEARTBEAT_S when none does. 0 (off) counts as RabbitMQ's own default, 60.
 */
export function heartbeatSecondsOf(url: string): number {
  const m = /[?&]heartbeat=(\d+)/.exec(url);
  if (!m) return DEFAULT_HEARTBEAT_S;
  const s = Number(m[1]);
  return s === 0 ? 60 : s;
}

/** The heartbeat withHeartbeat asks for. */
export const DEFAULT_HEARTBEAT_S = 10;

/** Ask for AMQP heartbeats (10 s) unless the URL sets them, so a half-open connection is noticed. */
export function withHeartbeat(url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes("?") ? "&" : "?"}heartbeat=${DEFAULT_HEARTBEAT_S}`;
}
