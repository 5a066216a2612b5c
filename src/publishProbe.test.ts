import { expect, test } from "bun:test";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";
import { PublishProbe, reportingConfirms } from "./publishProbe.ts";
import { MAX_MESSAGE_BYTES } from "./transport.ts";

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

test("a broker that said it blocks publishing (connection.blocked) holds at the first tick, and until it says otherwise", async () => {
  const broker = heldPublish();
  let blocked = true;
  const probe = new PublishProbe(broker.publish, () => blocked);
  expect(probe.tick()).toBe(true);
  // Other publishes confirmed meanwhile (taken before the alarm) do not end it.
  probe.confirmed();
  expect(probe.tick()).toBe(true);
  blocked = false;
  expect(probe.tick()).toBe(false);
  broker.confirm();
  await Promise.resolve();
  expect(probe.tick()).toBe(false);
});

test("a transport that cannot be blocked (no probePublish) never holds", () => {
  const probe = new PublishProbe(undefined);
  expect(probe.tick()).toBe(false);
  expect(probe.tick()).toBe(false);
});

test("a probe queued behind publishes the broker goes on confirming does not hold; once they stop, it does", () => {
  const broker = heldPublish();
  const probe = new PublishProbe(broker.publish);
  expect(probe.tick()).toBe(false);
  // A heavy upload: the probe waits behind a window of batches, which are being confirmed.
  probe.confirmed();
  expect(probe.tick()).toBe(false);
  probe.confirmed();
  probe.confirmed();
  expect(probe.tick()).toBe(false);
  expect(broker.sent()).toBe(1);
  // No confirm for a whole interval: the broker takes nothing.
  expect(probe.tick()).toBe(true);
});

test("reportingConfirms reports each confirmed publish, not a refused one, and leaves the rest of the transport as it is", async () => {
  const base = new MemoryTransport(new MemoryBroker(), "probe");
  let confirms = 0;
  const transport = reportingConfirms(base, () => confirms++);
  await transport.declare([{ name: "q", bindings: ["k"] }]);
  await transport.publish("k", new Uint8Array([1]));
  await transport.publish("k", new Uint8Array([2]));
  expect(confirms).toBe(2);
  // Over the message size limit: refused by the transport, so not a confirm.
  expect(await transport.publish("k", new Uint8Array(MAX_MESSAGE_BYTES + 1)).then(() => "confirmed", () => "refused")).toBe("refused");
  expect(confirms).toBe(2);
  await transport.close();
});
