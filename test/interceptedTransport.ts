/** A transport for tests that decide when (or whether) the broker confirms one routing key's publishes. */
import type { Transport } from "../src/transport.ts";

/** `base`, except that publishes on `key` go to `publish`, whose promise is their confirm. */
export function interceptPublishes(base: Transport, key: string, publish: (body: Uint8Array) => Promise<void>): Transport {
  return {
    declare: (q) => base.declare(q),
    consume: (q, o, h) => base.consume(q, o, h),
    close: () => base.close(),
    publish: (k, body) => (k === key ? publish(body) : base.publish(k, body)),
  };
}
