/**
 * Prometheus metrics of one process (prom-client): what flows through each stage (rows, batches),
 * what the broker does to us (acks, redeliveries), what durability costs (WAL fsync latency), the
 * sessions, and the monitors' view (leader term, revivals). Every role instance gets its own
 * Registry instead of prom-client's global one, so several roles in one process (in-process
 * clusters, tests) never collide; `startMetricsServer` serves one on `--metrics-port`.
 *
 * Metrics are counted per batch or per event, never per row, so they cost nothing measurable on
 * the hot path.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { ConfigError, errorMessage } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { OptionSpec } from "./options.ts";
import { decoratedTransport, type Delivery, type Transport } from "./transport.ts";

/** `--metrics-port`: every long-running role takes it (broker-connected roles and monitors). */
export const METRICS_PORT_OPTION: OptionSpec = {
  name: "metrics-port", type: "int", env: "COFFEE_METRICS_PORT", default: 0, min: 0, max: 65535,
  help: "HTTP port serving Prometheus metrics at /metrics (0 = no metrics endpoint)",
};

/** `--metrics-host`: containers need every interface; `coffee up` passes 127.0.0.1. */
export const METRICS_HOST_OPTION: OptionSpec = {
  name: "metrics-host", type: "string", env: "COFFEE_METRICS_HOST", default: "0.0.0.0",
  help: "address the metrics endpoint listens on (coffee up uses 127.0.0.1)",
};

/** The port the compose services serve metrics on (the conventional prom-client exporter port). */
export const DEFAULT_METRICS_PORT = 9464;

/** Who the metrics belong to: carried as labels by every metric of the registry. */
export interface MetricsIdentity {
  role: string;
  name: string;
}

/** What the WAL reports after each fsync: its kind and how long it took. */
export type FsyncObserver = (seconds: number, kind: string) => void;

/** Buckets of the fsync histogram: from a fast NVMe fdatasync (~100 µs) to a stalled disk. */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * prom-client's default metrics that mean something under Bun. The others read from Node
 * internals Bun only stubs (monitorEventLoopDelay never records, so its min/mean are garbage;
 * no GC entries reach PerformanceObserver; V8 heap spaces do not exist in JavaScriptCore) and
 * would be misleading rather than empty.
 */
const PROCESS_METRICS = new Set([
  "process_cpu_user_seconds_total", "process_cpu_system_seconds_total", "process_cpu_seconds_total",
  "process_start_time_seconds", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_heap_bytes",
  "process_open_fds", "process_max_fds", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_total_bytes",
  "nodejs_heap_size_used_bytes", "nodejs_external_memory_bytes", "nodejs_version_info",
]);

/**
 * A gauge whose value is read at scrape time from the role's own state (no bookkeeping on change).
 * It joins the registry only once something is tracked: a gauge without labels would otherwise
 * show a 0 in every process (a gateway with `coffee_is_leader 0` reads like a monitor).
 */
export class ReadGauge<L extends string> {
  private readonly readers: { labels: Partial<Record<L, string>>; read: () => number }[] = [];
  /** The underlying prom-client gauge. */
  readonly gauge: Gauge<L>;

  constructor(private readonly registry: Registry, name: string, help: string, labelNames: readonly L[]) {
    const readers = this.readers;
    this.gauge = new Gauge<L>({
      name, help, labelNames, registers: [],
      collect() {
        for (const r of readers) this.set(r.labels, r.read());
      },
    });
  }

  /** Report `read()` under `labels` at every scrape. */
  track(labels: Partial<Record<L, string>>, read: () => number): void {
    if (this.readers.length === 0) this.registry.registerMetric(this.gauge);
    this.readers.push({ labels, read });
  }
}

/** Every coffee metric of one process, in its own registry. */
export class CoffeeMetrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  /** Rows entering a stage (gateway: rows received from clients). */
  readonly rowsIn: Counter<"stage" | "entity">;
  /** Rows leaving a stage (gateway: valid rows published; aggregator: result lines). */
  readonly rowsOut: Counter<"stage">;
  /** Rows the gateway rejected (unparsable id, amount or timestamp). */
  readonly rowsRejected: Counter<"entity">;
  /** Input batches a stage handled (gateway: client batches published and confirmed). */
  readonly batches: Counter<"stage">;
  /** Messages published and confirmed by the broker, per routing key. */
  readonly published: Counter<"routing_key">;
  /** Deliveries received from the broker, per queue. */
  readonly deliveries: Counter<"queue">;
  /** Deliveries acknowledged, per queue. */
  readonly acks: Counter<"queue">;
  /** Deliveries negatively acknowledged (requeued or dropped), per queue. */
  readonly nacks: Counter<"queue">;
  /** Deliveries the broker marked redelivered (a consumer died or nacked before acking), per queue. */
  readonly redeliveries: Counter<"queue">;
  /** Messages recognised by lineage as already processed and dropped. */
  readonly duplicatesDropped: Counter<"stage">;
  /** Latency of every WAL fsync, by kind (records, file, directory, agg-q1's runs among the last two; spool-records, spool-directory for the gateway's result spool). */
  readonly walFsync: Histogram<"kind">;
  /** Sessions begun (gateway). */
  readonly sessionsStarted: Counter<"stage">;
  /** Sessions completed (gateway: results delivered; aggregator: result published). */
  readonly sessionsFinished: Counter<"stage">;
  /** Sessions purged (client gone, protocol error). */
  readonly sessionsPurged: Counter<"stage" | "cause">;
  /** Sessions currently open. */
  readonly sessionsOpen: ReadGauge<"stage">;
  /** Processes a leader monitor revived, per revived process. */
  readonly revivals: Counter<"process">;
  /** Processes the leader monitor currently considers down. */
  readonly processesDown: ReadGauge<never>;
  /** Highest election term this monitor has seen. */
  readonly leaderTerm: ReadGauge<never>;
  /** 1 while this monitor leads, else 0. */
  readonly isLeader: ReadGauge<never>;

  /** `processMetrics` adds prom-client's process metrics (once per OS process: they read global state). */
  constructor(identity: MetricsIdentity, opts: { processMetrics?: boolean } = {}) {
    const r = [this.registry];
    // Default labels: one scrape config covers every process, and queries can still tell them apart.
    this.registry.setDefaultLabels({ role: identity.role, name: identity.name });
    this.rowsIn = new Counter({ name: "coffee_rows_in_total", help: "Rows entering a stage (gateway: rows received from clients)", labelNames: ["stage", "entity"], registers: r });
    this.rowsOut = new Counter({ name: "coffee_rows_out_total", help: "Rows leaving a stage (gateway: valid rows published; aggregator: result lines)", labelNames: ["stage"], registers: r });
    this.rowsRejected = new Counter({ name: "coffee_rows_rejected_total", help: "Rows the gateway rejected as unparsable", labelNames: ["entity"], registers: r });
    this.batches = new Counter({ name: "coffee_batches_total", help: "Input batches a stage handled (gateway: client batches confirmed by the broker)", labelNames: ["stage"], registers: r });
    this.published = new Counter({ name: "coffee_messages_published_total", help: "Messages published and confirmed by the broker", labelNames: ["routing_key"], registers: r });
    this.deliveries = new Counter({ name: "coffee_deliveries_total", help: "Deliveries received from the broker", labelNames: ["queue"], registers: r });
    this.acks = new Counter({ name: "coffee_acks_total", help: "Deliveries acknowledged to the broker", labelNames: ["queue"], registers: r });
    this.nacks = new Counter({ name: "coffee_nacks_total", help: "Deliveries negatively acknowledged (requeued)", labelNames: ["queue"], registers: r });
    this.redeliveries = new Counter({ name: "coffee_redeliveries_total", help: "Deliveries the broker marked as redelivered", labelNames: ["queue"], registers: r });
    this.duplicatesDropped = new Counter({ name: "coffee_duplicates_dropped_total", help: "Messages recognised by lineage as already processed and dropped", labelNames: ["stage"], registers: r });
    this.walFsync = new Histogram({ name: "coffee_wal_fsync_seconds", help: "Latency of write-ahead log fsyncs (records: group commit fdatasync; file, directory: snapshots, new segments and agg-q1's sorted runs before a snapshot names them; spool-records, spool-directory: the gateway's result spool)", labelNames: ["kind"], buckets: FSYNC_BUCKETS, registers: r });
    this.sessionsStarted = new Counter({ name: "coffee_sessions_started_total", help: "Client sessions begun", labelNames: ["stage"], registers: r });
    this.sessionsFinished = new Counter({ name: "coffee_sessions_finished_total", help: "Sessions completed (gateway: the client said bye after its results, or left after done and its TTL ran out; aggregator: result published)", labelNames: ["stage"], registers: r });
    this.sessionsPurged = new Counter({ name: "coffee_sessions_purged_total", help: "Sessions purged before completing (gateway: by cause, the code of the error that ended it, or TTL_EXPIRED, ABORTED, LEFT_BEFORE_WELCOME; aggregators: GATEWAY_PURGE, the gateway's word)", labelNames: ["stage", "cause"], registers: r });
    this.sessionsOpen = new ReadGauge(this.registry, "coffee_sessions_open", "Sessions currently open", ["stage"]);
    this.revivals = new Counter({ name: "coffee_revivals_total", help: "Processes revived by this monitor while leading", labelNames: ["process"], registers: r });
    this.processesDown = new ReadGauge(this.registry, "coffee_processes_down", "Processes this monitor, while leading, considers down", []);
    this.leaderTerm = new ReadGauge(this.registry, "coffee_leader_term", "Highest election term this monitor has seen", []);
    this.isLeader = new ReadGauge(this.registry, "coffee_is_leader", "1 while this monitor leads, else 0", []);
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      for (const m of this.registry.getMetricsAsArray()) {
        if (!m.name.startsWith("coffee_") && !PROCESS_METRICS.has(m.name)) this.registry.removeSingleMetric(m.name);
      }
    }
  }

  /** One stage finished one input batch: count the batch and its rows in and out. */
  stageDone(stage: string, entity: string, rowsIn: number, rowsOut: number): void {
    this.batches.inc({ stage });
    this.rowsIn.inc({ stage, entity }, rowsIn);
    this.rowsOut.inc({ stage }, rowsOut);
  }

  /** The WAL hook feeding `coffee_wal_fsync_seconds`. */
  readonly onFsync: FsyncObserver = (seconds, kind) => this.walFsync.observe({ kind }, seconds);

  /** The registry's exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * `transport` with its broker traffic counted: confirmed publishes per routing key; deliveries,
 * redeliveries, acks and nacks per queue. A decorator, so no role counts broker traffic itself
 * and both transports (AMQP, in-memory) are measured the same way. Everything but publish and
 * consume passes through untouched (decoratedTransport).
 */
export function meteredTransport(transport: Transport, metrics: CoffeeMetrics): Transport {
  const publish: Transport["publish"] = async (routingKey, body) => {
    await transport.publish(routingKey, body);
    metrics.published.inc({ routing_key: routingKey });
  };
  const consume: Transport["consume"] = (queue, options, handler) => {
    const labels = { queue };
    return transport.consume(queue, options, async (d) => {
      metrics.deliveries.inc(labels);
      if (d.redelivered) metrics.redeliveries.inc(labels);
      const counted: Delivery = {
        body: d.body,
        redelivered: d.redelivered,
        ack() {
          const done = d.ack();
          if (done) metrics.acks.inc(labels);
          return done;
        },
        nack(requeue) {
          d.nack(requeue);
          metrics.nacks.inc(labels);
        },
      };
      try {
        await handler(counted);
      } catch (err) {
        // The dispatcher nacks the delivery itself when a handler fails: count that here.
        metrics.nacks.inc(labels);
        throw err;
      }
    });
  };
  return decoratedTransport(transport, { publish, consume });
}

/** A running metrics endpoint. */
export interface MetricsServer {
  port: number;
  stop(): void;
}

/**
 * Serve `GET /metrics` on `port` (all interfaces: Prometheus scrapes from another container or
 * machine). Throws ConfigError when the port cannot be bound.
 */
export function startMetricsServer(metrics: CoffeeMetrics, port: number, hostname = "0.0.0.0"): MetricsServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      port,
      hostname,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path !== "/metrics") return new Response("not found: metrics are at /metrics\n", { status: 404 });
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
        return new Response(await metrics.text(), { headers: { "content-type": metrics.registry.contentType } });
      },
    });
  } catch (err) {
    throw new ConfigError(`--metrics-port ${port}: cannot serve metrics on ${hostname}:${port} (${errorMessage(err)})`);
  }
  return { port: server.port ?? port, stop: () => void server.stop(true) };
}

/**
 * Start the metrics endpoint when `port` is set (0 = none), logging once where it listens. A port
 * that cannot be bound is logged, not fatal: a process must not crash-loop over its metrics.
 */
export function serveMetrics(metrics: CoffeeMetrics, port: number, host: string, log: Logger): MetricsServer | null {
  if (port === 0) return null;
  try {
    const server = startMetricsServer(metrics, port, host);
    log.info(`metrics on http://${host}:${server.port}/metrics`);
    return server;
  } catch (err) {
    log.warn(`${errorMessage(err)}; running without a metrics endpoint`);
    return null;
  }
}
