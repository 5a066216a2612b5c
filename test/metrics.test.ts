/**
 * Metrics of a real cluster (`coffee up` on RabbitMQ): every process's /metrics, found through
 * cluster.json, is scraped before and after one client session and parsed with an independent
 * Prometheus text parser; the counters moved by exactly what the session did, end to end
 * (client → gateway → fused worker stages → aggregators → result files).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readClusterFile, type ClusterProcess } from "../src/clusterPlan.ts";
import { QUERIES, queryFileName } from "../src/schema.ts";
import { AGGREGATORS, dataKey } from "../src/topology.ts";
import { generate, runCoffee, sessionDirFrom, startCluster, tempDir, type TestCluster } from "./harness.ts";
import { histogramCount, scrape, total, type Scrape } from "./promText.ts";

// Real processes and a real broker: minutes, not the unit-test default of 5 s.
setDefaultTimeout(180_000);

type Scrapes = Map<string, Scrape>;

describe("metrics of a running cluster", () => {
  let cluster: TestCluster;
  let procs: ClusterProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ tag: "metrics" });
    procs = readClusterFile(join(cluster.stateDir, "cluster.json"));
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const scrapeAll = async (): Promise<Scrapes> => new Map(await Promise.all(procs.map(async (p) => [p.name, await scrape(p.metricsPort!)] as const)));
  /** Increase of series `name` (matching `labels`) in process `proc` between two scrapes. */
  const delta = (before: Scrapes, after: Scrapes, proc: string, name: string, labels: Record<string, string> = {}): number =>
    total(after.get(proc)!, name, labels) - total(before.get(proc)!, name, labels);
  /** The same, summed over every process of `role`. */
  const roleDelta = (before: Scrapes, after: Scrapes, role: ClusterProcess["role"], name: string, labels: Record<string, string> = {}): number =>
    procs.filter((p) => p.role === role).reduce((sum, p) => sum + delta(before, after, p.name, name, labels), 0);

  test("every process serves /metrics on the port cluster.json records, labelled with its role and name", async () => {
    expect(procs.length).toBeGreaterThanOrEqual(8);
    for (const p of procs) expect(p.metricsPort).toBeGreaterThan(0);
    expect(new Set(procs.map((p) => p.metricsPort)).size).toBe(procs.length);
    const scrapes = await scrapeAll();
    for (const p of procs) {
      const s = scrapes.get(p.name)!;
      expect(s.families.get("coffee_rows_in_total")?.type).toBe("COUNTER");
      expect(total(s, "process_resident_memory_bytes", { role: p.role, name: p.name })).toBeGreaterThan(0);
    }
    // The gateway's session counters exist from its start, so a rate over the first purge is not missed.
    const purges = scrapes.get("gateway")!.series.get("coffee_sessions_purged_total") ?? [];
    expect(purges.map((m) => m.labels?.cause).sort()).toEqual(["ABORTED", "CLIENT_IDLE", "LEFT_BEFORE_WELCOME", "PIPELINE_FAILED", "PIPELINE_STALLED", "TTL_EXPIRED"]);
    expect((scrapes.get("gateway")!.series.get("coffee_sessions_started_total") ?? []).length).toBe(1);
  });

  test("one client session moves the counters by exactly what it did", async () => {
    const data = tempDir("mdata");
    const out = tempDir("mout");
    dirs.push(data, out);
    await generate(data, 5, ["--months", "2024-06..2024-07", "--transactions-per-month", "1500", "--users", "300"]);

    const before = await scrapeAll();
    const r = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
    expect(r.code).toBe(0);
    const rowsSent = Number(/ (\d+) rows sent/.exec(r.stdout)?.[1]);
    expect(rowsSent).toBeGreaterThan(3000);
    const session = sessionDirFrom(r.stdout);
    const resultRows = Object.fromEntries(QUERIES.map((q) => [q, (readFileSync(join(session, queryFileName(q)), "utf8").match(/\n/g)?.length ?? 0) - 1]));

    // The client is done once the gateway has every result; a worker's last ack or an
    // aggregator's bookkeeping after its publish confirm may land a moment later.
    const aggs = AGGREGATORS.map((a) => a.queue);
    let after = await scrapeAll();
    for (let waited = 0; waited < 10_000; waited += 100) {
      // The gateway counts a session finished at the client's bye, which follows its exit's last write.
      const settled = aggs.every((a) => delta(before, after, a, "coffee_sessions_finished_total") === 1)
        && delta(before, after, "gateway", "coffee_sessions_finished_total") === 1
        && roleDelta(before, after, "worker", "coffee_acks_total") === roleDelta(before, after, "worker", "coffee_deliveries_total");
      if (settled) break;
      await Bun.sleep(100);
      after = await scrapeAll();
    }

    // Gateway: every row the client sent came in, valid ones went out; one session, finished.
    expect(delta(before, after, "gateway", "coffee_rows_in_total", { stage: "gateway" })).toBe(rowsSent);
    expect(delta(before, after, "gateway", "coffee_rows_out_total", { stage: "gateway" }) + delta(before, after, "gateway", "coffee_rows_rejected_total")).toBe(rowsSent);
    expect(delta(before, after, "gateway", "coffee_sessions_started_total")).toBe(1);
    expect(delta(before, after, "gateway", "coffee_sessions_finished_total")).toBe(1);
    expect(total(after.get("gateway")!, "coffee_sessions_open")).toBe(0);
    const dataKeys = ["transactions", "transaction_items", "users", "stores", "menu_items"] as const;
    const gatewayBatches = dataKeys.reduce((sum, e) => sum + delta(before, after, "gateway", "coffee_messages_published_total", { routing_key: dataKey(e) }), 0);
    expect(delta(before, after, "gateway", "coffee_batches_total")).toBe(gatewayBatches);
    expect(histogramCount(after.get("gateway")!, "coffee_wal_fsync_seconds") - histogramCount(before.get("gateway")!, "coffee_wal_fsync_seconds")).toBeGreaterThan(0);

    // Workers (fused chains): the head stage got every valid transaction row, batch for batch;
    // inside the chain each stage's output is the next one's input; every delivery was acked once.
    const validTransactions = delta(before, after, "gateway", "coffee_rows_in_total", { entity: "transactions" }) - delta(before, after, "gateway", "coffee_rows_rejected_total", { entity: "transactions" });
    expect(roleDelta(before, after, "worker", "coffee_rows_in_total", { stage: "filter-year", entity: "transactions" })).toBe(validTransactions);
    expect(roleDelta(before, after, "worker", "coffee_batches_total", { stage: "filter-year" })).toBe(delta(before, after, "gateway", "coffee_messages_published_total", { routing_key: dataKey("transactions") }));
    const yearOut = roleDelta(before, after, "worker", "coffee_rows_out_total", { stage: "filter-year" });
    expect(yearOut).toBeGreaterThan(0);
    expect(yearOut).toBeLessThanOrEqual(validTransactions);
    expect(roleDelta(before, after, "worker", "coffee_rows_in_total", { stage: "filter-time" })).toBe(yearOut);
    expect(roleDelta(before, after, "worker", "coffee_rows_in_total", { stage: "group-q4" })).toBe(yearOut);
    const workerBatches = roleDelta(before, after, "worker", "coffee_batches_total", { stage: "filter-year" }) + roleDelta(before, after, "worker", "coffee_batches_total", { stage: "filter-items-year" });
    expect(roleDelta(before, after, "worker", "coffee_acks_total")).toBe(workerBatches);
    expect(roleDelta(before, after, "worker", "coffee_redeliveries_total")).toBe(0);

    // Aggregators: Q1 folded exactly filter-amount's output; each published one result whose
    // rows are the result file's; every WAL group commit was an fsync; no duplicates in a calm run.
    expect(delta(before, after, "agg-q1", "coffee_rows_in_total", { entity: "transactions" })).toBe(roleDelta(before, after, "worker", "coffee_rows_out_total", { stage: "filter-amount" }));
    for (const a of AGGREGATORS) {
      expect(delta(before, after, a.queue, "coffee_sessions_finished_total")).toBe(1);
      expect(delta(before, after, a.queue, "coffee_rows_out_total")).toBe(resultRows[a.query]!);
      expect(delta(before, after, a.queue, "coffee_duplicates_dropped_total")).toBe(0);
      expect(total(after.get(a.queue)!, "coffee_sessions_open")).toBe(0);
      const fsyncs = histogramCount(after.get(a.queue)!, "coffee_wal_fsync_seconds", { kind: "records" }) - histogramCount(before.get(a.queue)!, "coffee_wal_fsync_seconds", { kind: "records" });
      expect(fsyncs).toBeGreaterThan(0);
    }
  });

  test("the single monitor leads and says so", async () => {
    const monitor = procs.find((p) => p.role === "monitor")!;
    let s = await scrape(monitor.metricsPort!);
    for (let waited = 0; total(s, "coffee_is_leader") !== 1 && waited < 5_000; waited += 100) {
      await Bun.sleep(100);
      s = await scrape(monitor.metricsPort!);
    }
    expect(total(s, "coffee_is_leader")).toBe(1);
    expect(total(s, "coffee_leader_term")).toBeGreaterThanOrEqual(1);
    expect(total(s, "coffee_processes_down")).toBe(0);
  });
});
