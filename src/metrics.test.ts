/**
 * Metrics of one process: the exposition text parses with an independent Prometheus parser,
 * counters and the fsync histogram move with the work, registries of roles sharing a process are
 * independent, the metered transport counts broker traffic, and the endpoint serves over HTTP.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { histogramCount, parseScrape, scrape, total } from "../test/promText.ts";
import { ConfigError } from "./errors.ts";
import { CoffeeMetrics, meteredTransport, startMetricsServer, type MetricsServer } from "./metrics.ts";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";
import { freeTcpPort } from "./ports.ts";
import { Wal } from "./wal.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const read = async (m: CoffeeMetrics) => parseScrape(await m.text());

describe("metrics", () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });

  test("every coffee metric parses, has HELP, and carries the process's role and name", async () => {
    const m = new CoffeeMetrics({ role: "worker", name: "transactions-chain-2" });
    m.stageDone("filter-year", "transactions", 10, 7);
    m.walFsync.observe({ kind: "records" }, 0.001);
    m.sessionsOpen.track({ stage: "gateway" }, () => 2);
    m.leaderTerm.track({}, () => 4);
    m.isLeader.track({}, () => 1);
    const s = await read(m);
    for (const name of ["coffee_rows_in_total", "coffee_rows_out_total", "coffee_batches_total", "coffee_acks_total", "coffee_redeliveries_total",
      "coffee_duplicates_dropped_total", "coffee_wal_fsync_seconds", "coffee_sessions_open", "coffee_sessions_finished_total", "coffee_revivals_total",
      "coffee_leader_term", "coffee_is_leader"]) {
      expect(s.families.has(name)).toBe(true);
    }
    expect(s.families.get("coffee_rows_in_total")!.type).toBe("COUNTER");
    expect(s.families.get("coffee_sessions_open")!.type).toBe("GAUGE");
    expect(s.families.get("coffee_wal_fsync_seconds")!.type).toBe("HISTOGRAM");
    expect(s.series.size).toBeGreaterThan(5);
    for (const samples of s.series.values()) for (const sample of samples) expect(sample.labels).toMatchObject({ role: "worker", name: "transactions-chain-2" });
  });

  test("counters move by batch counts; gauges read the role's state at scrape time", async () => {
    const m = new CoffeeMetrics({ role: "aggregator", name: "agg-q1" });
    let open = 3;
    m.sessionsOpen.track({ stage: "agg-q1" }, () => open);
    m.stageDone("filter-year", "transactions", 100, 60);
    m.stageDone("filter-year", "transactions", 50, 0);
    m.stageDone("filter-time", "transactions", 60, 40);
    m.sessionsFinished.inc({ stage: "agg-q1" });
    m.duplicatesDropped.inc({ stage: "agg-q1" }, 2);
    let s = await read(m);
    expect(total(s, "coffee_batches_total", { stage: "filter-year" })).toBe(2);
    expect(total(s, "coffee_rows_in_total", { stage: "filter-year", entity: "transactions" })).toBe(150);
    expect(total(s, "coffee_rows_out_total", { stage: "filter-year" })).toBe(60);
    expect(total(s, "coffee_rows_out_total")).toBe(100);
    expect(total(s, "coffee_sessions_finished_total", { stage: "agg-q1" })).toBe(1);
    expect(total(s, "coffee_duplicates_dropped_total")).toBe(2);
    expect(total(s, "coffee_sessions_open", { stage: "agg-q1" })).toBe(3);
    open = 1;
    m.stageDone("filter-year", "transactions", 1, 1);
    s = await read(m);
    expect(total(s, "coffee_sessions_open", { stage: "agg-q1" })).toBe(1);
    expect(total(s, "coffee_batches_total", { stage: "filter-year" })).toBe(3);
  });

  test("a read gauge nobody tracks is not exposed at all (no misleading zeros)", async () => {
    const m = new CoffeeMetrics({ role: "gateway", name: "gateway" });
    const s = await read(m);
    expect(s.families.has("coffee_is_leader")).toBe(false);
    expect(s.families.has("coffee_leader_term")).toBe(false);
    m.leaderTerm.track({}, () => 7);
    expect(total(await read(m), "coffee_leader_term")).toBe(7);
  });

  test("two roles in one process keep separate registries", async () => {
    const a = new CoffeeMetrics({ role: "worker", name: "a" });
    const b = new CoffeeMetrics({ role: "worker", name: "b" });
    a.stageDone("group-q2", "transaction_items", 5, 5);
    expect(total(await read(a), "coffee_rows_in_total")).toBe(5);
    expect(total(await read(b), "coffee_rows_in_total")).toBe(0);
  });

  test("a WAL reports every fsync to the histogram, by kind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coffee-metrics-wal-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const m = new CoffeeMetrics({ role: "aggregator", name: "agg-q3" });
    const { wal } = await Wal.open({ dir: join(dir, "log"), onFsync: m.onFsync });
    let s = await read(m);
    const before = histogramCount(s, "coffee_wal_fsync_seconds", { kind: "records" });
    wal.append(enc("one"));
    wal.append(enc("two"));
    await wal.commit();
    wal.append(enc("three"));
    await wal.commit();
    await wal.close();
    s = await read(m);
    // Group commit: two commits, two fdatasyncs, however many records each held.
    expect(histogramCount(s, "coffee_wal_fsync_seconds", { kind: "records" }) - before).toBe(2);
    expect(histogramCount(s, "coffee_wal_fsync_seconds", { kind: "directory" })).toBeGreaterThan(0);
    expect(total(s, "coffee_wal_fsync_seconds_sum", { kind: "records" })).toBeGreaterThan(0);
  });

  test("a throwing fsync observer does not poison the log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coffee-metrics-wal-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const { wal } = await Wal.open({ dir, onFsync: () => { throw new Error("observer broke"); } });
    wal.append(enc("x"));
    await wal.commit();
    expect(wal.lsn).toBe(1);
    await wal.close();
  });

  test("the metered transport counts publishes, deliveries, acks, nacks and redeliveries", async () => {
    const broker = new MemoryBroker();
    const inner = new MemoryTransport(broker, "ns");
    const m = new CoffeeMetrics({ role: "worker", name: "w" });
    const t = meteredTransport(inner, m);
    await t.declare([{ name: "q", bindings: ["k"] }]);
    let calls = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await t.consume("q", { prefetch: 1, concurrent: false }, (d) => {
      calls++;
      if (calls === 1) return d.nack(true); // comes again, marked redelivered
      if (calls === 2) throw new Error("handler failure"); // the dispatcher nacks it
      d.ack();
      done();
    });
    await t.publish("k", enc("x"));
    await finished;
    await settle();
    const s = await read(m);
    expect(total(s, "coffee_messages_published_total", { routing_key: "k" })).toBe(1);
    expect(total(s, "coffee_deliveries_total", { queue: "q" })).toBe(3);
    expect(total(s, "coffee_redeliveries_total", { queue: "q" })).toBe(2);
    expect(total(s, "coffee_nacks_total", { queue: "q" })).toBe(2);
    expect(total(s, "coffee_acks_total", { queue: "q" })).toBe(1);
    // Optional capabilities of the wrapped transport stay reachable.
    expect(typeof t.queueDepths).toBe("function");
    expect(await t.queueDepths!()).toEqual(await inner.queueDepths());
    await t.close();
  });

  test("process metrics that make sense under Bun are included, the stubbed ones left out", async () => {
    const m = new CoffeeMetrics({ role: "gateway", name: "gateway" }, { processMetrics: true });
    const s = await read(m);
    expect(total(s, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(total(s, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(s.families.has("nodejs_eventloop_lag_min_seconds")).toBe(false);
    expect(s.families.has("nodejs_gc_duration_seconds")).toBe(false);
  });

  describe("endpoint", () => {
    let server: MetricsServer | null = null;
    afterEach(() => {
      server?.stop();
      server = null;
    });

    test("GET /metrics serves the registry as Prometheus text; other paths are 404", async () => {
      const m = new CoffeeMetrics({ role: "gateway", name: "gateway" });
      server = startMetricsServer(m, freeTcpPort(), "127.0.0.1");
      m.rowsIn.inc({ stage: "gateway", entity: "users" }, 42);
      expect(total(await scrape(server.port), "coffee_rows_in_total", { entity: "users" })).toBe(42);
      m.rowsIn.inc({ stage: "gateway", entity: "users" }, 8);
      expect(total(await scrape(server.port), "coffee_rows_in_total", { entity: "users" })).toBe(50);
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST" })).status).toBe(405);
    });

    test("a port already in use is a ConfigError naming --metrics-port", () => {
      const m = new CoffeeMetrics({ role: "gateway", name: "gateway" });
      server = startMetricsServer(m, freeTcpPort(), "127.0.0.1");
      let err: unknown = null;
      try {
        startMetricsServer(m, server.port, "127.0.0.1").stop();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain("--metrics-port");
    });
  });
});
