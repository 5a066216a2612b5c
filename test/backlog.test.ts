/**
 * The pipeline's backlog bound (--max-backlog, src/backlogGate.ts), in-process over the memory
 * broker: with slow workers, the gateway stops reading the upload once a queue holds the bound,
 * so confirmed batches no longer pile up in the shared queues; without the bound they do. Either
 * way the session completes exactly.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import { PIPELINE_QUEUES } from "../src/topology.ts";
import { decoratedTransport, type Transport } from "../src/transport.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(120_000);
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const NAMESPACE = "backlog";
const WINDOW = 4;

/** `t` whose consumers handle one delivery at a time, each `ms` late: a stage slower than the upload. */
function slowConsumer(t: Transport, ms: number): Transport {
  let turn: Promise<void> = Promise.resolve();
  return decoratedTransport(t, {
    consume: (queue, options, handler) => t.consume(queue, options, (d) => {
      const mine = turn.then(async () => { await Bun.sleep(ms); await handler(d); });
      turn = mine.catch(() => {});
      return mine;
    }),
  });
}

/** Run one session; the deepest any pipeline queue got, in ready messages, seen at each gateway publish. */
async function deepestBacklog(data: string, maxBacklog: number): Promise<{ deepest: number; holds: number; results: Record<string, string> }> {
  const broker = new MemoryBroker();
  let deepest = 0;
  const observe = (): void => {
    for (const [name, q] of broker.queues) if (PIPELINE_QUEUES.has(name.slice(NAMESPACE.length + 1))) deepest = Math.max(deepest, q.messages.length);
  };
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxBacklog, backlogPollMs: 50 }), new Map(), (name) => {
    const t = new MemoryTransport(broker, NAMESPACE);
    if (name === "gateway") return decoratedTransport(t, { publish: async (key, body) => { await t.publish(key, body); observe(); } });
    return name.startsWith("agg-") ? t : slowConsumer(t, 4);
  }, true);
  try {
    const out = tempDir("backlog-out");
    dirs.push(out);
    const run = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, batchBytes: 2048, window: WINDOW }));
    const gateway = cluster.roles.find((r) => r.role === "gateway")!;
    return { deepest, holds: Number(gateway.instance.status().backlogHolds), results: readResults(run.dir) };
  } finally {
    await cluster.shutdown();
  }
}

test("slow workers: the upload waits at --max-backlog ready batches instead of filling the queues, and stays exact", async () => {
  const data = tempDir("backlog");
  dirs.push(data);
  await generateDataset({ out: data, seed: 43, months: parseMonthRange("2024-01..2024-02"), transactionsPerMonth: 3000, users: 500, stores: 10, menuItems: 8 });
  const expected = (await computeReference(data)).queries;

  const unbounded = await deepestBacklog(data, 0);
  expect(unbounded.results).toEqual(expected);
  expect(unbounded.holds).toBe(0);

  const bounded = await deepestBacklog(data, 6);
  expect(bounded.results).toEqual(expected);
  expect(bounded.holds).toBeGreaterThan(0);
  // The bound, plus what the client had in flight when the hold came (its window) and the
  // batches of the socket read under way.
  expect(bounded.deepest).toBeLessThanOrEqual(6 + 2 * WINDOW);
  // Without the bound the queues held several times as much: the check above could fail.
  expect(unbounded.deepest).toBeGreaterThan(3 * (6 + 2 * WINDOW));
});
