/**
 * Whether the broker takes publishes right now. The gateway's stall deadline must not run while
 * no stage can publish a result: during a RabbitMQ memory or disk alarm (which blocks every
 * publishing connection, and tells a connection so only when it next publishes) or while the
 * broker is unreachable. The gateway may have nothing else to publish then, so it probes: an
 * empty message bound to no queue, which the broker confirms and drops (Transport.probePublish).
 */

/** One probe in flight at a time; `tick()` once per interval tells whether the last one is still unconfirmed. */
export class PublishProbe {
  private pending = false;

  /** `probe` is the transport's probePublish; without one (a transport that cannot be blocked) nothing is ever held. */
  constructor(private readonly probe: (() => Promise<void>) | undefined) {}

  /**
   * True when the probe sent at an earlier tick is still unconfirmed: the broker took no publish
   * for at least one interval. Otherwise sends a new probe and returns false.
   */
  tick(): boolean {
    if (!this.probe) return false;
    if (this.pending) return true;
    this.pending = true;
    // A rejected probe (the transport closed) tells nothing more than a confirmed one would.
    const settled = (): void => { this.pending = false; };
    this.probe().then(settled, settled);
    return false;
  }
}
