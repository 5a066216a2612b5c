/**
 * Sums past 2^53 - 1 cents or units through the real roles in one process (in-memory transport):
 * the worker's partial (group-q2, group-q3) or the aggregator's reducer, whichever adds past the
 * limit first, fails the session with PIPELINE_FAILED naming the limit, instead of the cluster
 * delivering a rounded total (src/exactSum.ts).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { DEPLOY_MODES } from "../src/clusterPlan.ts";
import { CoffeeError } from "../src/errors.ts";
import { startInProcessCluster } from "../src/inProcessCluster.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { scratchDirs } from "./harness.ts";

setDefaultTimeout(60_000);
const scratch = scratchDirs();

/** Sums past 2^53 cents: 20 transactions and 20 items at the largest amount (and 15-digit quantities). */
function overflowDataset(): string {
  const dir = scratch("sums");
  const write = (path: string, rows: string[]): void => {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), rows.map((r) => `${r}\n`).join(""));
  };
  const rows = (make: (i: number) => string): string[] => Array.from({ length: 20 }, (_, i) => make(i));
  write("stores/stores.csv", ["store_id,store_name,street,postal_code,city,state,latitude,longitude", "1,S,a,1,c,s,1,1"]);
  write("menu_items/menu_items.csv", ["item_id,item_name,category,price,is_seasonal,available_from,available_to", "1,Espresso,coffee,6.0,False,,"]);
  write("users/users.csv", ["user_id,gender,birthdate,registered_at", "1,male,1990-01-01,2023-01-01 10:00:00"]);
  write("transactions/transactions.csv", [
    "transaction_id,store_id,payment_method_id,voucher_id,user_id,original_amount,discount_applied,final_amount,created_at",
    ...rows((i) => `t${i},1,1,,1,90071992547409.91,0.0,90071992547409.91,2024-01-01 12:00:00`),
  ]);
  write("transaction_items/transaction_items.csv", [
    "transaction_id,item_id,quantity,unit_price,subtotal,created_at",
    ...rows((i) => `t${i},1,900719925474099,0.1,90071992547409.91,2024-01-01 12:00:00`),
  ]);
  return dir;
}

for (const deploy of DEPLOY_MODES) {
  // Batches of 1 row: each partial holds one row, the aggregator's sum is what passes the limit.
  // Batches of 20 rows: the worker's partial of the one batch already does.
  for (const batchRows of [1, 20]) {
    test(`${deploy}, batches of ${batchRows}: totals past 2^53 fail the session with PIPELINE_FAILED, not a rounded result`, async () => {
      const data = overflowDataset();
      const broker = new MemoryBroker();
      // Who logged the failure: aggregators with batches of one row, workers with one batch.
      const failedIn = new Set<string>();
      const logOf = (name: string): Logger => ({ info() {}, warn() {}, error: (line: string) => { if (line.includes("a sum of")) failedIn.add(name.replace(/-\d+$/, "")); } });
      const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), new Map(), () => new MemoryTransport(broker, `sums-${deploy}-${batchRows}`), true, deploy, () => {}, logOf);
      try {
        const run = runClient(defaultClientConfig({ dataDir: data, outDir: scratch("sums-out"), host: "127.0.0.1", port: cluster.gatewayPort(), batchRows, quiet: true }));
        const err = await run.then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(CoffeeError);
        expect((err as CoffeeError).code).toBe("PIPELINE_FAILED");
        expect((err as CoffeeError).message).toMatch(/a sum of (final_amount|subtotal|quantity) passed (90071992547409\.91|9007199254740991), the largest total coffee adds exactly/);
        // Whichever stage passes the limit first fails the session: a worker (a stage or a fused
        // chain) on the one 20-row batch, an aggregator on 1-row partials.
        const stages = [...failedIn];
        expect(stages.length).toBeGreaterThan(0);
        for (const name of stages) expect(name.startsWith("agg-")).toBe(batchRows === 1);
      } finally {
        await cluster.shutdown();
      }
    });
  }
}
