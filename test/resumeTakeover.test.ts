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
import { ENTITY_COLUMNS, type Entity } from "../src/schema.ts";
import { packColumn } from "../src/textColumn.ts";
import { allQueues } from "../src/topology.ts";
import { frame, openRaw, type RawConnection } from "./rawGateway.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const transport = new MemoryTransport(new MemoryBroker(), "takeover");
await transport.declare(allQueues());
const gateway = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), transport, quiet);
void gateway.run();
const port = await gateway.listening;
afterAll(() => gateway.shutdown());

/** A connection that said hello, and its session's id. */
async function newSession(): Promise<{ conn: RawConnection; id: string }> {
  const conn = await openRaw(port);
  conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
  const welcome = await conn.next("welcome");
  return { conn, id: welcome.t === "welcome" ? welcome.session : "" };
}

/** A new connection resuming session `id` with the end-of-streams `eos` (nothing sent), once welcomed. */
async function resumed(id: string, eos: Entity[]): Promise<RawConnection> {
  const conn = await openRaw(port);
  conn.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: id, sent: {}, eos }));
  expect(await conn.next("welcome")).toMatchObject({ t: "welcome", session: id, resumed: true });
  return conn;
}

test("the old connection of a resumed session is closed by the gateway", async () => {
  // Says hello, then neither sends nor closes: only the gateway can end this connection.
  const { conn: first, id } = await newSession();
  const second = await resumed(id, []);
  // Resolves once the first socket is closed; it holds only the first welcome.
  await first.closed;
  expect(first.seen).toEqual([expect.objectContaining({ t: "welcome", session: id, resumed: false })]);
  second.end();
});

test("a resume states the upload as its client knows it: end-of-streams an earlier resume claimed (a forged one, say) are not kept", async () => {
  const { conn: first, id } = await newSession();
  // Someone with the session id claims end-of-streams and that nothing was sent.
  const forged = await resumed(id, ["stores", "users"]);
  forged.send(frame({ t: "resent" }));
  // The client resumes with what it knows: no end-of-stream yet. Its batches are then in order.
  const client = await resumed(id, []);
  client.send(frame({ t: "resent" }));
  client.send(frame({ t: "batch", entity: "stores", seq: 0, lines: Uint32Array.of(2), columns: ENTITY_COLUMNS.stores.map(() => packColumn(["1"])) }));
  expect(await client.next("ack")).toMatchObject({ t: "ack", entity: "stores", seq: 0 });
  client.send(frame({ t: "eos", entity: "stores", count: 1 }));
  expect(await client.next("eos-ack")).toMatchObject({ t: "eos-ack", entity: "stores" });
  client.send(frame({ t: "abort" }));
  await Promise.all([first.closed, forged.closed, client.closed]);
});

test("`resent` is the end of a resume's resends: outside one it is PROTOCOL_VIOLATION", async () => {
  const { conn } = await newSession();
  conn.send(frame({ t: "resent" }));
  expect(await conn.next("error")).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION", message: "resent without a resume to end" });
  await conn.closed;
});
