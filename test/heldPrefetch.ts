/**
 * Hold amqplib's channel prefetch (basic.qos), for tests that must act while a consumer's new
 * channel is open but not yet consuming (AmqpTransport opens a channel, sets its prefetch, then
 * consumes): nothing the broker says marks that moment.
 */
import { spyOn } from "bun:test";
import type { Channel } from "amqplib";
import { connectBroker, type BrokerAddress } from "../src/brokerAddress.ts";

/** A hold on the next prefetch of any amqplib channel in this process. */
export interface HeldPrefetch {
  /** Resolves once a prefetch is being held. */
  reached: Promise<void>;
  /** Let the held prefetch go on to the broker. */
  release(): void;
  /** Prefetches go straight through again (one still held is released): call in `finally`. */
  restore(): void;
}

/**
 * Hold the next prefetch of every amqplib channel of this process until `release()`; later ones
 * go through. `broker` only lends a channel whose class is amqplib's (its prototype is what is
 * patched: the channels to hold are opened inside the code under test).
 */
export async function holdNextPrefetch(broker: BrokerAddress): Promise<HeldPrefetch> {
  const { conn } = await connectBroker(broker);
  let proto: Channel;
  try {
    proto = Object.getPrototypeOf(await conn.createChannel()) as Channel;
  } finally {
    await conn.close();
  }
  const prefetch = proto.prefetch;
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let armed = true;
  const spy = spyOn(proto, "prefetch").mockImplementation(async function (this: Channel, count: number, global?: boolean) {
    if (armed) {
      armed = false;
      reached.resolve();
      await gate.promise;
    }
    return prefetch.call(this, count, global);
  });
  return {
    reached: reached.promise,
    release: () => gate.resolve(),
    restore: () => {
      gate.resolve();
      spy.mockRestore();
    },
  };
}
