/**
 * Shutting a stateful role down twice (a signal handler and a supervisor, say) is a no-op the
 * second time. It once committed to the closed log, which the group commit took for a storage
 * failure: process.exit(70), which here would end the test runner itself.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createAggregator } from "../roles/aggregator.ts";
import { createGateway, defaultGatewayConfig } from "../roles/gateway.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { allQueues } from "../src/topology.ts";
import { tempDir } from "./harness.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} };

test("a gateway and an aggregator with state directories shut down twice, and their state opens again", async () => {
  const state = tempDir("shutdown");
  dirs.push(state);
  const broker = new MemoryBroker();
  const transport = async (): Promise<MemoryTransport> => {
    const t = new MemoryTransport(broker, "shutdown");
    await t.declare(allQueues());
    return t;
  };
  const cfg = defaultGatewayConfig({ host: "127.0.0.1", port: 0, stateDir: join(state, "gateway") });
  for (let round = 0; round < 2; round++) {
    const gateway = await createGateway(cfg, await transport(), silent);
    const aggregator = await createAggregator({ query: "q2", prefetch: 8, chunkBytes: 512, stateDir: join(state, "agg-q2") }, await transport(), silent);
    void gateway.run();
    void aggregator.run();
    await gateway.listening;
    const stopping = gateway.shutdown();
    expect(gateway.shutdown()).toBe(stopping);
    await stopping;
    await gateway.shutdown();
    const aggregatorStopping = aggregator.shutdown();
    expect(aggregator.shutdown()).toBe(aggregatorStopping);
    await aggregatorStopping;
    await aggregator.shutdown();
  }
});
