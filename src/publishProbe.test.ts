import { expect, test } from "bun:test";
import { PublishProbe } from "./publishProbe.ts";

/** A probe whose confirms the test gives (or refuses) one at a time; counts probes sent. */
function heldPublish(): { publish: () => Promise<void>; sent: () => number; confirm: () => void; refuse: () => void } {
  const settle: { resolve: () => void; reject: (e: Error) => void }[] = [];
  let sent = 0;
  return {
    publish: () => { sent++; const p = Promise.withResolvers<void>(); settle.push(p); return p.promise; },
    sent: () => sent,
    confirm: () => settle.shift()!.resolve(),
    refuse: () => settle.shift()!.reject(new Error("closed")),
  };
}

test("a probe still unconfirmed at the next tick holds; one in flight at a time; a confirmed one lets the next go", async () => {
  const broker = heldPublish();
  const probe = new PublishProbe(broker.publish);
  expect(probe.tick()).toBe(false);
  expect(probe.tick()).toBe(true);
  expect(probe.tick()).toBe(true);
  expect(broker.sent()).toBe(1);
  broker.confirm();
  await Promise.resolve(); // lets the confirm's callback (a microtask) run
  expect(probe.tick()).toBe(false);
  expect(broker.sent()).toBe(2);
});

test("a refused probe (the transport closed) does not hold the clock for good", async () => {
  const broker = heldPublish();
  const probe = new PublishProbe(broker.publish);
  expect(probe.tick()).toBe(false);
  broker.refuse();
  await Promise.resolve();
  expect(probe.tick()).toBe(false);
  expect(broker.sent()).toBe(2);
});

test("a transport that cannot be blocked (no probePublish) never holds", () => {
  const probe = new PublishProbe(undefined);
  expect(probe.tick()).toBe(false);
  expect(probe.tick()).toBe(false);
});
