/**
 * The real roles in one process over the in-memory transport: fast end-to-end checks of the
 * pipeline logic, including duplicate deliveries on every hop (at-least-once messaging).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { DEPLOY_MODES } from "../src/clusterPlan.ts";
import { startInProcessCluster, type InProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import type { Transport } from "../src/transport.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);

/** A transport that publishes every message twice, as a broker redelivery or publisher retry would. */
function duplicating(inner: Transport): Transport {
  return {
    declare: (q) => inner.declare(q),
    publish: async (key, body) => { await inner.publish(key, body); await inner.publish(key, body); },
    consume: (q, o, h) => inner.consume(q, o, h),
    close: () => inner.close(),
  };
}

/** A transport whose consumers fail every `n`th delivery before handling it (nack + requeue). */
function failingEvery(n: number, inner: Transport): Transport {
  let count = 0;
  return {
    declare: (q) => inner.declare(q),
    publish: (key, body) => inner.publish(key, body),
    consume: (q, o, h) => inner.consume(q, o, (d) => {
      if (++count % n === 0) throw new Error("injected handler failure");
      return h(d);
    }),
    close: () => inner.close(),
  };
}

const GATEWAY = defaultGatewayConfig({ host: "127.0.0.1", port: 0 });

describe("in-process pipeline", () => {
  let data: string;
  let expected: Record<string, string>;
  const dirs: string[] = [];

  beforeAll(async () => {
    data = tempDir("pdata");
    dirs.push(data);
    await generateDataset({ out: data, seed: 3, months: parseMonthRange("2024-12..2025-01"), transactionsPerMonth: 1500, users: 300, stores: 10, menuItems: 8 });
    expected = (await computeReference(data)).queries;
  });

  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function runOnce(cluster: InProcessCluster, batchRows: number): Promise<Record<string, string>> {
    const out = tempDir("pout");
    dirs.push(out);
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), batchRows, window: 4, quiet: true }));
    return readResults(r.dir);
  }

  for (const deploy of DEPLOY_MODES) {
    test(`${deploy}: results equal coffee reference, whatever the batch size and replica counts`, async () => {
      const broker = new MemoryBroker();
      const cluster = await startInProcessCluster(GATEWAY, new Map([["filter-year", 3], ["group-q2", 2]]), () => new MemoryTransport(broker, `p1${deploy}`), true, deploy);
      try {
        expect(cluster.roles.filter((r) => r.role === "worker").length).toBe(deploy === "split" ? 10 : 5);
        for (const batchRows of [1, 97, 10_000]) {
          const got = await runOnce(cluster, batchRows);
          expect(got).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
        }
      } finally {
        await cluster.shutdown();
      }
    });

    test(`${deploy}: every message delivered twice on every hop: nothing counted twice`, async () => {
      const broker = new MemoryBroker();
      const cluster = await startInProcessCluster(GATEWAY, new Map(), () => duplicating(new MemoryTransport(broker, `p2${deploy}`)), true, deploy);
      try {
        const got = await runOnce(cluster, 50);
        expect(got).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
        const dupes = cluster.roles.filter((r) => r.role === "aggregator").map((r) => Number(r.instance.status().duplicates));
        expect(dupes.every((n) => n > 0)).toBe(true);
      } finally {
        await cluster.shutdown();
      }
    });
  }

  test("handlers failing every 7th delivery: redeliveries complete every session exactly", async () => {
    const broker = new MemoryBroker();
    const cluster = await startInProcessCluster(GATEWAY, new Map(), () => failingEvery(7, new MemoryTransport(broker, "p3")), true);
    try {
      const got = await runOnce(cluster, 200);
      expect(got).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
    } finally {
      await cluster.shutdown();
    }
  });
});
