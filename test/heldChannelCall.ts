/**
 * Hold one call of amqplib's channel API (basic.qos or basic.consume), for tests that must act
 * while a consumer's new channel is open but not yet consuming (AmqpTransport opens a channel,
 * sets its prefetch, then consumes): nothing the broker says marks those moments.
 */
import { spyOn } from "bun:test";
import type { Channel } from "amqplib";
import { connectBroker, type BrokerAddress } from "../src/brokerAddress.ts";

/** A hold on the next call of one channel method of any amqplib channel in this process. */
export interface HeldChannelCall {
  /** Resolves once a call is being held. */
  reached: Promise<void>;
  /** Let the held call go on to the broker. */
  release(): void;
  /** Calls go straight through again (one still held is released): call in `finally`. */
  restore(): void;
}

/**
 * Hold the next `method` call of every amqplib channel of this process until `release()`; later
 * ones go through. `broker` only lends a channel whose class is amqplib's (its prototype is what
 * is patched: the channels to hold are opened inside the code under test).
 */
export async function holdNextChannelCall(broker: BrokerAddress, method: "prefetch" | "consume"): Promise<HeldChannelCall> {
  const { conn } = await connectBroker(broker);
  let proto: Channel;
  try {
    proto = Object.getPrototypeOf(await conn.createChannel()) as Channel;
  } finally {
    await conn.close();
  }
  // Typed loosely: the two methods' signatures differ, and the spy passes arguments through untouched.
  const original = proto[method] as (...args: unknown[]) => Promise<unknown>;
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let armed = true;
  const spy = spyOn(proto as unknown as Record<typeof method, (...args: unknown[]) => Promise<unknown>>, method).mockImplementation(async function (this: Channel, ...args: unknown[]) {
    if (armed) {
      armed = false;
      reached.resolve();
      await gate.promise;
    }
    return original.apply(this, args);
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
