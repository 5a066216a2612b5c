/**
 * --max-in-flight is what the gateway tells clients and what it holds them to, per connection:
 * one batch more than that unacknowledged ends the connection (real gateway in-process, real
 * TCP; a memory broker that never confirms the batches, so they stay in flight).
 */
import { afterAll, expect, test } from "bun:test";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { ENTITY_COLUMNS } from "../src/schema.ts";
import { packColumn } from "../src/textColumn.ts";
import { allQueues, dataKey } from "../src/topology.ts";
import type { Transport } from "../src/transport.ts";
import { frame, raw } from "./rawGateway.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const MAX_IN_FLIGHT = 3;

/** A one-row stores batch (its cells need not parse: rejected rows are published too). */
const storesBatch = (seq: number): Uint8Array =>
  frame({ t: "batch", entity: "stores", seq, lines: Uint32Array.of(seq + 2), columns: ENTITY_COLUMNS.stores.map(() => packColumn(["1"])) });

const base = new MemoryTransport(new MemoryBroker(), "inflight");
await base.declare(allQueues());
let held = 0;
/** Client batches are never confirmed; everything else goes through. */
const transport: Transport = {
  declare: (q) => base.declare(q),
  consume: (q, o, h) => base.consume(q, o, h),
  close: () => base.close(),
  publish: (key, body) => {
    if (key !== dataKey("stores")) return base.publish(key, body);
    held++;
    return new Promise<void>(() => {});
  },
};
const gateway = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxInFlight: MAX_IN_FLIGHT }), transport, quiet);
void gateway.run();
const port = await gateway.listening;
afterAll(() => gateway.shutdown());

test(`the welcome says ${MAX_IN_FLIGHT} in flight, and batch ${MAX_IN_FLIGHT + 1} unacknowledged ends the connection`, async () => {
  const replies = await raw(port, [frame({ t: "hello", v: PROTOCOL_VERSION })], (m) =>
    m.t === "welcome" ? Array.from({ length: MAX_IN_FLIGHT + 1 }, (_, seq) => storesBatch(seq)) : []);
  expect(replies[0]).toMatchObject({ t: "welcome", maxInFlight: MAX_IN_FLIGHT });
  expect(replies.at(-1)).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION", message: `more than ${MAX_IN_FLIGHT} unacknowledged batches` });
  // The batches within the limit were published (and are held unconfirmed); the one over it was not.
  expect(held).toBe(MAX_IN_FLIGHT);
});
