/**
 * A resume on a new connection takes the session over: the gateway closes the old connection's
 * socket (a half-open one would otherwise hold a descriptor and buffers until TCP gives up).
 * Real gateway in-process, real TCP, memory broker.
 */
import { afterAll, expect, test } from "bun:test";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION, type GatewayMessage } from "../src/protocol.ts";
import { allQueues } from "../src/topology.ts";
import { frame, raw } from "./rawGateway.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const transport = new MemoryTransport(new MemoryBroker(), "takeover");
await transport.declare(allQueues());
const gateway = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), transport, quiet);
void gateway.run();
const port = await gateway.listening;
afterAll(() => gateway.shutdown());

test("the old connection of a resumed session is closed by the gateway", async () => {
  let welcomed: (session: string) => void = () => {};
  const session = new Promise<string>((r) => (welcomed = r));
  // Says hello, then neither sends nor closes: only the gateway can end this connection.
  const first = raw(port, [frame({ t: "hello", v: PROTOCOL_VERSION })], (m) => {
    if (m.t === "welcome") welcomed(m.session);
    return [];
  });
  const id = await session;
  let resumed: (m: GatewayMessage) => void = () => {};
  const secondWelcome = new Promise<GatewayMessage>((r) => (resumed = r));
  void raw(port, [frame({ t: "resume", v: PROTOCOL_VERSION, session: id, sent: {}, eos: [] })], (m) => {
    resumed(m);
    return [];
  });
  expect(await secondWelcome).toMatchObject({ t: "welcome", session: id, resumed: true });
  // Resolves once the first socket is closed; it holds only the first welcome.
  expect(await first).toEqual([expect.objectContaining({ t: "welcome", session: id, resumed: false })]);
});
