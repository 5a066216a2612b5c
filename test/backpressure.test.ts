/**
 * The gateway's memory bound across sessions (--max-in-flight-bytes): with a budget smaller
 * than what three clients keep in flight, the gateway stops reading a session's socket while it
 * holds its share (src/fairBudget.ts), and every session still completes exactly.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import type { Transport } from "../src/transport.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(120_000);

/** `t`, whose publishes are confirmed `ms` later than the broker confirms them. */
function slowConfirms(t: Transport, ms: number): Transport {
  return new Proxy(t, {
    get(target, prop) {
      if (prop === "publish") return async (key: string, body: Uint8Array) => { await target.publish(key, body); await Bun.sleep(ms); };
      const v: unknown = Reflect.get(target, prop);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test("three clients over a 1 MiB gateway budget: reads pause, results stay exact", async () => {
  const data = tempDir("bp");
  dirs.push(data);
  await generateDataset({ out: data, seed: 41, months: parseMonthRange("2024-01..2024-02"), transactionsPerMonth: 6000, users: 900, stores: 10, menuItems: 8 });
  const expected = (await computeReference(data)).queries;
  const broker = new MemoryBroker();
  // The gateway's broker confirms after 20 ms (a disk-bound broker), so its batches pile up.
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxInFlightBytes: 1024 * 1024 }), new Map(),
    (name) => (name === "gateway" ? slowConfirms(new MemoryTransport(broker, "bp"), 20) : new MemoryTransport(broker, "bp")), true);
  try {
    // 3 clients × 8 batches of ~128 KiB of fields: about 3 MiB wanted in flight against 1 MiB.
    const runs = await Promise.all([1, 2, 3].map(() => {
      const out = tempDir("bpout");
      dirs.push(out);
      return runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, batchBytes: 128 * 1024, window: 8 }));
    }));
    for (const r of runs) expect(readResults(r.dir)).toEqual(expected);
    const gateway = cluster.roles.find((r) => r.role === "gateway")!;
    expect(Number(gateway.instance.status().readPauses)).toBeGreaterThan(0);
  } finally {
    await cluster.shutdown();
  }
});
