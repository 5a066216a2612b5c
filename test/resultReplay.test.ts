/**
 * Result chunks the gateway stored survive its restart on disk (the result spool) and are sent
 * again to the client that resumes (real roles in-process, real TCP, real files).
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createAggregator } from "../roles/aggregator.ts";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { createGateway, defaultGatewayConfig, type GatewayInstance } from "../roles/gateway.ts";
import { createWorker, workUnitFrom } from "../roles/worker.ts";
import { planWorkers } from "../src/clusterPlan.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { CoffeeError } from "../src/errors.ts";
import { computeReference } from "../src/reference.ts";
import type { RoleInstance } from "../src/roleRuntime.ts";
import { QUERIES } from "../src/schema.ts";
import { allQueues } from "../src/topology.ts";
import type { Transport } from "../src/transport.ts";
import { gatewayProxy } from "./gatewayProxy.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);

const dirs: string[] = [];
const running: RoleInstance[] = [];
afterAll(async () => {
  for (const r of running) await r.shutdown().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const quiet = (lines: string[]): Logger => ({ info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) });

/** A dataset, and workers and aggregators running on one in-memory broker; no gateway yet. */
async function pipeline(name: string) {
  const data = tempDir(name);
  const out = tempDir(`${name}out`);
  const state = tempDir(`${name}state`);
  dirs.push(data, out, state);
  await generateDataset({ out: data, seed: 5, months: parseMonthRange("2024-03..2024-03"), transactionsPerMonth: 600, users: 120, stores: 10, menuItems: 8 });
  const expected = (await computeReference(data)).queries;
  const broker = new MemoryBroker();
  // One namespace: every role's transport sees the same queues.
  const transport = async (): Promise<Transport> => {
    const t = new MemoryTransport(broker, name);
    await t.declare(allQueues());
    return t;
  };
  const start = (r: RoleInstance): RoleInstance => {
    running.push(r);
    void r.run();
    return r;
  };
  for (const w of planWorkers(new Map(), "fused")) start(await createWorker({ unit: workUnitFrom(w.stage, w.chain), prefetch: 8 }, await transport(), quiet([])));
  // Small chunks: Q1 comes in several, so the gateway can stop between two of them.
  for (const q of QUERIES) start(await createAggregator({ query: q, prefetch: 32, chunkBytes: 512, stateDir: null }, await transport(), quiet([])));
  return { data, out, state, expected, transport };
}

/**
 * A client whose first gateway goes down (cleanly) after relaying, and so storing, its third
 * result chunk. The client is left trying to resume; `secondGateway` starts the gateway it
 * resumes with.
 */
async function clientCutOffAfterThreeChunks(name: string) {
  const { data, out, state, expected, transport } = await pipeline(name);

  const cfg = defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: join(state, "gateway"), prefetch: 1 });
  let relayed = 0;
  const { promise: firstStopped, resolve: stopFirst } = Promise.withResolvers<void>();
  const base = await transport();
  const counting: Transport = {
    declare: (q) => base.declare(q),
    close: () => base.close(),
    publish: (k, b) => base.publish(k, b),
    consume: (queue, options, handler) => base.consume(queue, options, (d) => {
      const r = handler(d);
      if (queue === "results" && ++relayed === 3) stopFirst();
      return r;
    }),
  };
  const first: GatewayInstance = await createGateway(cfg, counting, quiet([]));
  void first.run();
  const port = await first.listening;
  const client = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port, quiet: true, batchRows: 100 }));
  await firstStopped;
  await first.shutdown();
  const secondGateway = async (log: string[]): Promise<GatewayInstance> => {
    const second = await createGateway({ ...cfg, port }, await transport(), quiet(log));
    running.push(second);
    void second.run();
    await second.listening;
    return second;
  };
  return { data, out, port, expected, client, spoolDir: join(state, "gateway", "results"), secondGateway };
}

test("a gateway restarted after storing some result chunks sends them again, from disk, to the resuming client", async () => {
  const { expected, client, spoolDir, secondGateway } = await clientCutOffAfterThreeChunks("replay");
  const spooled = readdirSync(spoolDir);
  expect(spooled.length).toBe(1);

  const secondLog: string[] = [];
  const second = await secondGateway(secondLog);
  const r = await client;
  expect(readResults(r.dir)).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
  expect(secondLog.join("\n")).toMatch(/recovered 1 session\(s\)/);
  expect(secondLog.join("\n")).toMatch(/session \S+ resumed/);
  // The chunks the first gateway stored (at least 3; more may have arrived before it stopped, or
  // at the second before the client resumed) reached the second only through its spool on disk.
  const replayed = /session \S+: (\d+) stored result chunk\(s\) sent again/.exec(secondLog.join("\n"));
  expect(Number(replayed?.[1])).toBeGreaterThanOrEqual(3);
  // Finished at the client's bye, and once that is durable the session's spooled chunks are gone.
  const deadline = performance.now() + 10_000;
  while (second.status().sessionsFinished !== 1 && performance.now() < deadline) await Bun.sleep(10);
  expect(second.status()).toMatchObject({ sessionsFinished: 1, awaitingBye: 0 });
  await second.shutdown();
  // A second shutdown is a no-op (it once committed to the closed log: exit 70, test runner and all).
  await second.shutdown();
  expect(existsSync(join(spoolDir, spooled[0]!))).toBe(false);
});

test("a session whose spooled chunks are gone fails alone, with WAL_CORRUPT; the gateway serves the next client", async () => {
  const { data, out, port, expected, client, spoolDir, secondGateway } = await clientCutOffAfterThreeChunks("replaylost");
  for (const f of readdirSync(spoolDir)) rmSync(join(spoolDir, f));
  const secondLog: string[] = [];
  const second = await secondGateway(secondLog);
  let err: unknown = null;
  await client.catch((e: unknown) => { err = e; });
  expect(err).toBeInstanceOf(CoffeeError);
  expect((err as CoffeeError).code).toBe("WAL_CORRUPT");
  // Found at the start, not only when read: no chunk arriving meanwhile was written where the
  // log says the lost ones are.
  expect(secondLog[0]).toMatch(/^the result spool of session \S+ lost chunk \w+#\d+ .*: its client will get WAL_CORRUPT when it resumes$/);
  expect(secondLog.join("\n")).toMatch(/closing connection of session \S+: WAL_CORRUPT the result spool of session \S+ lost chunk/);
  // The gateway did not stop: a new session on it comes out exact.
  const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port, quiet: true, batchRows: 100 }));
  expect(readResults(r.dir)).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
  await second.shutdown();
});

test("a gateway restarted after `done` but before the client's bye keeps the session as finished: no slot, results sent again", async () => {
  const { data, out, state, expected, transport } = await pipeline("nobye");
  const cfg = defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: join(state, "gateway"), maxSessions: 1 });
  const first = await createGateway(cfg, await transport(), quiet([]));
  void first.run();
  const port = await first.listening;
  // The client never sees `done` on its first connection, so it never says bye there.
  const { promise: doneWithheld, resolve: withheld } = Promise.withResolvers<void>();
  const proxy = gatewayProxy(port, (msg) => {
    if (msg.t !== "done") return "pass";
    withheld();
    return "drop";
  });
  try {
    const client = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: proxy.port, quiet: true }));
    await doneWithheld;
    expect(first.status()).toMatchObject({ sessions: 0, awaitingBye: 1 });
    await first.shutdown();
    const log: string[] = [];
    const second = await createGateway({ ...cfg, port }, await transport(), quiet(log));
    running.push(second);
    // Recovered as finished: it holds no --max-sessions slot (the limit is 1 here).
    expect(second.status()).toMatchObject({ sessions: 0, awaitingBye: 1 });
    void second.run();
    await second.listening;
    const r = await client;
    expect(readResults(r.dir)).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
    const deadline = performance.now() + 10_000;
    while (second.status().sessionsFinished !== 1 && performance.now() < deadline) await Bun.sleep(10);
    expect(second.status()).toMatchObject({ sessions: 0, awaitingBye: 0, sessionsFinished: 1, sessionsPurged: 0 });
  } finally {
    proxy.stop(true);
  }
});
