/**
 * A purge the broker never confirmed is published again by the restarted gateway, so the
 * aggregators do not keep a dead session's partial state for good (real gateway in-process,
 * real TCP, real log files; the broker is in memory).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createGateway, defaultGatewayConfig, type GatewayInstance } from "../roles/gateway.ts";
import { decodeMessage, type BrokerMessage } from "../src/codec.ts";
import { encodeFrame } from "../src/frame.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION, type GatewayMessage } from "../src/protocol.ts";
import { allQueues, PURGE_KEY } from "../src/topology.ts";
import type { Transport } from "../src/transport.ts";
import { tempDir } from "./harness.ts";
import { interceptPublishes } from "./interceptedTransport.ts";
import { frame, raw } from "./rawGateway.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** A memory transport whose purge publishes are recorded and, unless `confirm`, never confirmed. */
async function purgeRecorder(confirm: boolean): Promise<{ transport: Transport; purges: BrokerMessage[]; firstPurge: Promise<void> }> {
  const base = new MemoryTransport(new MemoryBroker(), "purge");
  await base.declare(allQueues());
  const purges: BrokerMessage[] = [];
  const { promise: firstPurge, resolve: purged } = Promise.withResolvers<void>();
  const transport = interceptPublishes(base, PURGE_KEY, (body) => {
    purges.push(decodeMessage(body));
    purged();
    return confirm ? base.publish(PURGE_KEY, body) : new Promise<void>(() => {});
  });
  return { transport, purges, firstPurge };
}

/** Say hello, then send a frame that is not msgpack: the session ends with a protocol error. */
const sessionEndedByGarbage = (port: number): Promise<GatewayMessage[]> =>
  raw(port, [frame({ t: "hello", v: PROTOCOL_VERSION })], (m) => (m.t === "welcome" ? [encodeFrame(Uint8Array.of(0xc1, 0xc1))] : []));

async function startGateway(stateDir: string, transport: Transport): Promise<GatewayInstance & { port: number }> {
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir }), transport, quiet);
  void gw.run();
  return Object.assign(gw, { port: await gw.listening });
}

test("a purge cut short by a restart is published again, once it is confirmed never again", async () => {
  const state = tempDir("purgestate");
  dirs.push(state);

  const first = await purgeRecorder(false);
  const gw1 = await startGateway(state, first.transport);
  const replies = await sessionEndedByGarbage(gw1.port);
  const welcome = replies.find((m) => m.t === "welcome");
  expect(welcome).toBeDefined();
  expect(replies.at(-1)).toMatchObject({ t: "error", code: "FRAME_MALFORMED" });
  const session = welcome!.t === "welcome" ? welcome!.session : "";
  // The purge is published once its close is durable; the broker never confirms it.
  await first.firstPurge;
  expect(first.purges).toMatchObject([{ kind: "purge", session }]);
  await gw1.shutdown();

  const second = await purgeRecorder(true);
  const gw2 = await startGateway(state, second.transport);
  expect(second.purges).toMatchObject([{ kind: "purge", session, reason: expect.stringContaining("FRAME_MALFORMED") }]);
  await gw2.shutdown();

  const third = await purgeRecorder(true);
  const gw3 = await startGateway(state, third.transport);
  expect(third.purges).toEqual([]);
  await gw3.shutdown();
});
