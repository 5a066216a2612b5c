/**
 * A resume on a new connection takes the session over: the gateway closes the old connection's
 * socket (a half-open one would otherwise hold a descriptor and buffers until TCP gives up).
 * Real gateway in-process, real TCP, memory broker.
 */
import { afterAll, expect, test } from "bun:test";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { allQueues } from "../src/topology.ts";
import { frame, openRaw } from "./rawGateway.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const transport = new MemoryTransport(new MemoryBroker(), "takeover");
await transport.declare(allQueues());
const gateway = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), transport, quiet);
void gateway.run();
const port = await gateway.listening;
afterAll(() => gateway.shutdown());

test("the old connection of a resumed session is closed by the gateway", async () => {
  // Says hello, then neither sends nor closes: only the gateway can end this connection.
  const first = await openRaw(port);
  first.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
  const welcome = await first.next("welcome");
  const id = welcome.t === "welcome" ? welcome.session : "";
  const second = await openRaw(port);
  second.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: id, sent: {}, eos: [] }));
  expect(await second.next("welcome")).toMatchObject({ t: "welcome", session: id, resumed: true });
  // Resolves once the first socket is closed; it holds only the first welcome.
  await first.closed;
  expect(first.seen).toEqual([expect.objectContaining({ t: "welcome", session: id, resumed: false })]);
  second.end();
});
