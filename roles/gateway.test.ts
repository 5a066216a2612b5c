import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeMessage } from "../src/codec.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { allQueues, RESULTS_KEY } from "../src/topology.ts";
import { expectHalted } from "../test/haltContract.ts";
import { scratchDirs } from "../test/harness.ts";
import { frame, openRaw } from "../test/rawGateway.ts";
import { recordingTransport } from "../test/recordingTransport.ts";
import { createGateway, defaultGatewayConfig } from "./gateway.ts";

const QUIET: Logger = { info() {}, warn() {}, error() {} };
const scratch = scratchDirs();

test("a result spool that cannot be written reaches onFatal; the gateway halts: its client is cut off, run() rejects with the failure", async () => {
  const stateDir = scratch("gateway-fatal");
  const broker = new MemoryBroker();
  const base = new MemoryTransport(broker, "fatal");
  await base.declare(allQueues());
  const { transport, acked } = recordingTransport(base);
  const told: unknown[] = [];
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir }), transport, QUIET, { onFatal: (err) => void told.push(err) });
  const running = gw.run();
  const port = await gw.listening;
  const client = await openRaw(port);
  client.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
  const welcome = await client.next("welcome");
  if (welcome.t !== "welcome") throw new Error(`expected a welcome, got ${JSON.stringify(welcome)}`);
  // Where this session's results go is a directory: the first chunk cannot be spooled.
  mkdirSync(join(stateDir, "results", `${welcome.session}.chunks`));
  await new MemoryTransport(broker, "fatal").publish(RESULTS_KEY, encodeMessage({ kind: "result", session: welcome.session, query: "q1", chunk: 0, last: false, csv: "transaction_id,final_amount\n" }));

  // The chunk it could not store stays unacked: a revived gateway gets it again.
  await expectHalted(running, told, acked, "result spool");
  // Cut off, as by a gateway process that exited; nothing more comes, and nobody is listening.
  await client.closed;
  expect(client.seen.map((m) => m.t)).toEqual(["welcome"]);
  await expect(Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).rejects.toThrow();
  // Halted is stopped: shutdown has nothing left to wait for.
  await gw.shutdown();
});

test("run() after shutdown() starts nothing: no results consumer, no queue poller, and it never listens", async () => {
  const base = new MemoryTransport(new MemoryBroker(), "stopped");
  await base.declare(allQueues());
  const { transport, started } = recordingTransport(base);
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: null }), transport, QUIET);
  await gw.shutdown();
  await gw.run();
  await expect(gw.listening).rejects.toMatchObject({ code: "INTERRUPTED" });
  expect(started).toEqual([]);
});
