/**
 * Whether the broker takes publishes right now, told by a tiny message published to a routing key
 * bound to no queue (the broker confirms and drops it). The gateway's stall deadline must not run
 * while no stage can publish a result: during a RabbitMQ memory or disk alarm (which blocks every
 * publishing connection, and tells a connection so only when it next publishes) or while the
 * broker is unreachable. The gateway may have nothing else to publish then, so it probes.
 */
import { PROBE_KEY } from "./topology.ts";

const EMPTY = new Uint8Array(0);

/** One probe in flight at a time; `tick()` once per interval tells whether the last one is still unconfirmed. */
export class BrokerProbe {
  private pending = false;

  constructor(private readonly publish: (routingKey: string, body: Uint8Array) => Promise<void>) {}

  /**
   * True when the probe sent at an earlier tick is still unconfirmed: the broker took no publish
   * for at least one interval. Otherwise sends a new probe and returns false.
   */
  tick(): boolean {
    if (this.pending) return true;
    this.pending = true;
    // A rejected probe (the transport closed) tells nothing more than a confirmed one would.
    const settled = (): void => { this.pending = false; };
    this.publish(PROBE_KEY, EMPTY).then(settled, settled);
    return false;
  }
}
