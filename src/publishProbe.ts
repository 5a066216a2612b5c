/**
 * Whether the broker takes publishes right now. The gateway's stall deadline must not run while
 * no stage can publish a result: during a RabbitMQ memory or disk alarm (which blocks every
 * publishing connection, and tells a connection so only when it next publishes), while the
 * broker is unreachable, or while quorum queues have lost their majority (a node of the cluster
 * still answers, but confirms no publish to them). The gateway may have nothing else to publish
 * then, so it probes: an empty message that the broker confirms and drops once it takes
 * publishes (Transport.probePublish). On quorum queues it goes to a quorum queue that keeps
 * nothing (topology's PROBE_QUEUE): bound to no queue, any node that answers would confirm it,
 * majority or not.
 */

import { decoratedTransport, type Transport } from "./transport.ts";

/** One probe in flight at a time; `tick()` once per interval tells whether the broker took no publish since the last. */
export class PublishProbe {
  private pending = false;
  /** Some other publish was confirmed since the last tick (see `confirmed`). */
  private moved = false;

  /**
   * `probe` is the transport's probePublish; without one (a transport that cannot be blocked)
   * nothing is ever held. `blocked`, the transport's publishingBlocked: a broker that said it
   * blocks publishing holds at once, not only once a probe went unconfirmed for an interval.
   */
  constructor(private readonly probe: (() => Promise<void>) | undefined, private readonly blocked: () => boolean = () => false) {}

  /**
   * Note that a publish other than the probe was confirmed. A probe queues behind the publishes
   * sent before it (up to the transport's window of unconfirmed ones), so during a heavy upload
   * it can stay unconfirmed for an interval while the broker confirms everything ahead of it.
   */
  confirmed(): void {
    this.moved = true;
  }

  /**
   * True when the probe sent at an earlier tick is still unconfirmed and no other publish was
   * confirmed since the last tick: the broker took no publish for at least one interval.
   * Otherwise sends a new probe if none is out, and returns false.
   */
  tick(): boolean {
    if (!this.probe) return false;
    const moved = this.moved;
    this.moved = false;
    if (this.blocked()) return true;
    if (this.pending) return !moved;
    this.pending = true;
    // A rejected probe (the transport closed) tells nothing more than a confirmed one would.
    const settled = (): void => { this.pending = false; };
    this.probe().then(settled, settled);
    return false;
  }
}

/** `transport` with every confirmed publish reported to `onConfirm` (for PublishProbe.confirmed). */
export function reportingConfirms(transport: Transport, onConfirm: () => void): Transport {
  const publish = async (routingKey: string, body: Uint8Array): Promise<void> => {
    await transport.publish(routingKey, body);
    onConfirm();
  };
  return decoratedTransport(transport, { publish });
}
