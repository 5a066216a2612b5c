import { expect, test } from "bun:test";
import { BrokerProbe } from "./brokerProbe.ts";
import { PROBE_KEY } from "./topology.ts";

/** A publish whose confirms the test gives (or refuses) one at a time. */
function heldPublish(): { publish: (key: string, body: Uint8Array) => Promise<void>; keys: string[]; confirm: () => void; refuse: () => void } {
  const keys: string[] = [];
  const settle: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    publish: (key) => { keys.push(key); const p = Promise.withResolvers<void>(); settle.push(p); return p.promise; },
    keys,
    confirm: () => settle.shift()!.resolve(),
    refuse: () => settle.shift()!.reject(new Error("closed")),
  };
}

test("a probe still unconfirmed at the next tick holds; one in flight at a time; a confirmed one lets the next go", async () => {
  const broker = heldPublish();
  const probe = new BrokerProbe(broker.publish);
  expect(probe.tick()).toBe(false);
  expect(probe.tick()).toBe(true);
  expect(probe.tick()).toBe(true);
  expect(broker.keys).toEqual([PROBE_KEY]);
  broker.confirm();
  await Promise.resolve(); // lets the confirm's callback (a microtask) run
  expect(probe.tick()).toBe(false);
  expect(broker.keys).toEqual([PROBE_KEY, PROBE_KEY]);
});

test("a refused probe (the transport closed) does not hold the clock for good", async () => {
  const broker = heldPublish();
  const probe = new BrokerProbe(broker.publish);
  expect(probe.tick()).toBe(false);
  broker.refuse();
  await Promise.resolve();
  expect(probe.tick()).toBe(false);
  expect(broker.keys.length).toBe(2);
});
