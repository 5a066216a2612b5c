/**
 * A transport over another that records what a test must see happen on it: every ack (by the
 * queue its delivery came from), and every consumer and queue-depth poll started.
 */
import type { Transport } from "../src/transport.ts";

/** `base` wrapped: everything passes through to it, and is recorded in `acked` (and told to `onAck`) and `started`. */
export function recordingTransport(base: Transport, onAck: (queue: string) => void = () => {}): { transport: Transport; acked: string[]; started: string[] } {
  const acked: string[] = [];
  const started: string[] = [];
  const transport: Transport = {
    declare: (queues) => base.declare(queues),
    close: () => base.close(),
    publish: (key, body) => base.publish(key, body),
    consume: (queue, opts, handle) => {
      started.push(`consume ${queue}`);
      return base.consume(queue, opts, (d) => handle({ ...d, ack: () => {
        acked.push(queue);
        const done = d.ack();
        onAck(queue);
        return done;
      } }));
    },
    queueDepths: async () => {
      started.push("queue depths");
      return (await base.queueDepths?.()) ?? [];
    },
  };
  return { transport, acked, started };
}
