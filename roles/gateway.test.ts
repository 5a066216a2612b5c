import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeMessage } from "../src/codec.ts";
import { exitCodeOf } from "../src/errors.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { PROTOCOL_VERSION } from "../src/protocol.ts";
import { allQueues, RESULTS_KEY } from "../src/topology.ts";
import { expectHalted } from "../test/haltContract.ts";
import { scratchDirs } from "../test/harness.ts";
import { frame, openRaw } from "../test/rawGateway.ts";
import { recordingTransport } from "../test/recordingTransport.ts";
import { createGateway, defaultGatewayConfig, resultsWaitMs } from "./gateway.ts";
import { heartbeatSecondsOf } from "../src/amqpTransport.ts";

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

test("a second gateway in a namespace does not take the results: it waits for the first to let go, then listens; or gives up with QUEUE_IN_USE", async () => {
  const broker = new MemoryBroker();
  const first = new MemoryTransport(broker, "twogw");
  await first.declare(allQueues());
  // The first gateway, as far as the results queue sees it.
  const held = await first.consume("results", { prefetch: 8, concurrent: false, exclusive: true }, () => {});
  const { promise: waiting, resolve: sawWait } = Promise.withResolvers<string>();
  const log: Logger = { info() {}, warn: (m) => sawWait(m), error() {} };
  const second = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: null }), new MemoryTransport(broker, "twogw"), log);
  const running = second.run();
  let listened = false;
  void second.listening.then(() => (listened = true), () => {});
  expect(await waiting).toContain("another gateway consumes this namespace's results");
  expect(listened).toBe(false);
  expect(second.status()).toMatchObject({ waitingForResults: true });
  await held.cancel();
  const port = await second.listening;
  expect(port).toBeGreaterThan(0);
  expect(second.status().waitingForResults).toBeUndefined();
  // Now the second holds the results alone.
  await expect(first.consume("results", { prefetch: 8, concurrent: false }, () => {})).rejects.toMatchObject({ code: "QUEUE_IN_USE" });
  await second.shutdown();
  await running;

  // One that never lets go: the wait ends, and so does the gateway (exit 2: a configuration to fix).
  const still = await first.consume("results", { prefetch: 8, concurrent: false }, () => {});
  const third = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: null, resultsWaitMs: 300 }), new MemoryTransport(broker, "twogw"), QUIET);
  const failure = await third.run().then(() => null, (e: unknown) => e);
  expect(failure).toMatchObject({ code: "QUEUE_IN_USE" });
  expect(String((failure as Error).message)).toContain("one gateway per --namespace");
  expect(exitCodeOf(failure)).toBe(2);
  await expect(third.listening).rejects.toMatchObject({ code: "QUEUE_IN_USE" });
  await third.shutdown();
  await still.cancel();
});

test("the wait for another gateway's results consumer follows the broker URL's heartbeat", () => {
  expect(resultsWaitMs(10)).toBe(60_000);
  expect(resultsWaitMs(30)).toBe(120_000);
  expect(resultsWaitMs(heartbeatSecondsOf("amqp://h:5672/?heartbeat=0"))).toBe(210_000);
  expect(heartbeatSecondsOf("amqp://a:5672,amqp://b:5672")).toBe(10);
  expect(heartbeatSecondsOf("amqps://h:5671/vh?frameMax=0&heartbeat=45")).toBe(45);
});

test("a gateway that cannot listen lets go of the results queue", async () => {
  const broker = new MemoryBroker();
  const t = new MemoryTransport(broker, "nolisten");
  await t.declare(allQueues());
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: taken.port, stateDir: null }), t, QUIET);
    await expect(gw.run()).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    const other = await new MemoryTransport(broker, "nolisten").consume("results", { prefetch: 1, concurrent: false, exclusive: true }, () => {});
    await other.cancel();
    await gw.shutdown();
  } finally {
    taken.stop(true);
  }
});
