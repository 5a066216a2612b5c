/**
 * What every role process shares: common options (name, namespace, broker URL, health port),
 * opening the transport, the UDP health server, the metrics endpoint, and shutting down on
 * SIGINT/SIGTERM (src/signalStop.ts).
 */
import { heapSize } from "bun:jsc";
import { AmqpTransport, DEFAULT_CONFIRM_TIMEOUT_MS, QUEUE_TYPES, type QueueType } from "./amqpTransport.ts";
import { brokerAddress, brokerClosedAtOpen, brokerOptions, CLOSED_AT_OPEN_CAUSE, type BrokerAddress } from "./brokerAddress.ts";
import { errorMessage } from "./errors.ts";
import { HEALTH_HOST_OPTION, startHealthServer, type StatusValue } from "./health.ts";
import { governedTransport, HEAP_LIMIT_OPTION, startHeapGovernor, type HeapGovernor } from "./heapGovernor.ts";
import type { Logger } from "./log.ts";
import { CoffeeMetrics, meteredTransport, METRICS_HOST_OPTION, METRICS_PORT_OPTION, serveMetrics } from "./metrics.ts";
import { int, str, type OptionSpec, type OptionValues } from "./options.ts";
import { allQueues } from "./topology.ts";
import type { Transport } from "./transport.ts";
import { crashPointsDir, nameCrashPointProcess } from "./crashPoint.ts";
import { signalStopper } from "./signalStop.ts";

/** Options every broker-connected role takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: "name", type: "string", env: "COFFEE_NAME", help: "process name in logs, health replies and cluster.json; the gateway and aggregators keep their state in STATE-DIR/<name>/", defaultText: "gateway, agg-qN, or the worker's stage or chain" },
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "prefix of every queue and exchange" },
  ...brokerOptions(),
  { name: "queue-type", type: "enum", env: "COFFEE_QUEUE_TYPE", default: "classic", choices: QUEUE_TYPES, help: "RabbitMQ queue type: classic (one node) or quorum (replicated; for a RabbitMQ cluster). Every process of a namespace must agree" },
  { name: "health-port", type: "int", env: "HEALTH_PORT", default: 0, min: 0, max: 65535, help: "UDP port answering PING with OK (0 = any free port, logged)" },
  HEALTH_HOST_OPTION,
  METRICS_PORT_OPTION,
  METRICS_HOST_OPTION,
  { name: "max-unconfirmed", type: "int", env: "COFFEE_MAX_UNCONFIRMED", default: 512, min: 1, max: 100000, help: "publishes awaiting broker confirmation at once" },
  HEAP_LIMIT_OPTION,
  { name: "reconnect-max-ms", type: "int", env: "COFFEE_RECONNECT_MAX_MS", default: 5000, min: 100, max: 600_000, help: "longest pause between broker reconnect attempts (backoff from 200 ms, with jitter)" },
  { name: "confirm-timeout-ms", type: "int", env: "COFFEE_CONFIRM_TIMEOUT_MS", default: DEFAULT_CONFIRM_TIMEOUT_MS, min: 1000, max: 3_600_000, help: "a publish the broker neither confirms nor nacks for this long is sent again on a new publishing channel, as a nacked one is (RabbitMQ 3.10 can leave a publish to a quorum queue unanswered for good when the queue's leader node dies); not while the broker blocks publishing. Copies this may make are dropped downstream" },
];

/** Common options, compiled. */
export interface CommonConfig {
  name: string;
  namespace: string;
  broker: BrokerAddress;
  queueType: QueueType;
  healthPort: number;
  healthHost: string;
  /** HTTP port of /metrics; 0 = none. */
  metricsPort: number;
  metricsHost: string;
  maxUnconfirmed: number;
  reconnectMaxMs: number;
  confirmTimeoutMs: number;
  heapLimitMb: number;
}

/** Read the common options; `role` names the process when --name is absent. */
export function commonConfig(values: OptionValues, role: string): CommonConfig {
  return {
    name: typeof values.name === "string" ? values.name : role,
    namespace: str(values, "namespace"),
    broker: brokerAddress(values),
    queueType: str(values, "queue-type") as QueueType,
    healthPort: int(values, "health-port"),
    healthHost: str(values, "health-host"),
    metricsPort: int(values, "metrics-port"),
    metricsHost: str(values, "metrics-host"),
    maxUnconfirmed: int(values, "max-unconfirmed"),
    reconnectMaxMs: int(values, "reconnect-max-ms"),
    confirmTimeoutMs: int(values, "confirm-timeout-ms"),
    heapLimitMb: int(values, "heap-limit-mb"),
  };
}

/** Connect to RabbitMQ, retrying until it answers; a lost connection is re-established in place. */
export async function openAmqp(cfg: CommonConfig, log: Logger): Promise<AmqpTransport> {
  return AmqpTransport.open({
    broker: cfg.broker,
    queueType: cfg.queueType,
    namespace: cfg.namespace,
    maxUnconfirmed: cfg.maxUnconfirmed,
    reconnectInitialMs: 200,
    reconnectMaxMs: cfg.reconnectMaxMs,
    confirmTimeoutMs: cfg.confirmTimeoutMs,
    connectionName: cfg.name,
    onError: (err) => log.error(`broker: ${errorMessage(err)}`),
    onEvent: (e) => {
      switch (e.type) {
        case "connected":
          return log.info(`broker connected at ${e.url}`);
        case "disconnected":
          return log.warn(`broker connection lost (${e.reason}); reconnecting`);
        case "reconnecting":
          return log.warn(`broker reconnect attempt ${e.attempt} in ${e.delayMs} ms${e.lastError ? ` (last error: ${e.lastError}${brokerClosedAtOpen(e.lastError) ? `: the broker closed the connection as it opened: ${CLOSED_AT_OPEN_CAUSE}` : ""})` : ""}`);
        case "blocked":
          return log.warn(`broker blocked publishing (${e.reason}): publishes wait until its resource alarm clears`);
        case "unblocked":
          return log.info("broker unblocked publishing");
        case "publisher-replaced":
          return log.warn(`${e.reason}: publishing on a new channel${e.delayMs > 0 ? ` in ${e.delayMs} ms` : ""}`);
        case "consumer-refused":
          return log.error(`after the reconnect, queue ${e.queue} is held by another connection's consumer (another gateway in this namespace, or this one's old connection, which the broker has not yet dropped): asking for it again until it is free`);
        case "queue-redeclared":
          return log.error(`queue ${e.queue} was gone from the broker (deleted?): declared it again, empty; the messages it held are lost, and sessions that had data in it will end with PIPELINE_STALLED`);
        default:
          // A new kind of event must be given its own line here.
          return ((unhandled: never): void => void unhandled)(e);
      }
    },
  });
}

/** A role instance as created in-process: runs until shut down. */
export interface RoleInstance {
  /** Resolves when the role has stopped on its own (or after shutdown). */
  run(): Promise<void>;
  shutdown(): Promise<void>;
  /** Extra health status fields (sessions, counters; the gateway nests session progress). */
  status(): Record<string, StatusValue>;
}

/**
 * Run a role in this process until it ends or a signal arrives; returns the exit code. The
 * health server answers first (status "starting"), before the broker connection and any log
 * replay, so a slow start is never mistaken for a dead process. `create` gets a transport whose
 * broker traffic is counted, the process's metrics to count its own work in, and its heap
 * governor, which already counts every publish and delivery, for other bytes it should count.
 */
export async function runRoleProcess(role: string, cfg: CommonConfig, log: Logger, create: (t: Transport, metrics: CoffeeMetrics, governor: HeapGovernor) => Promise<RoleInstance>): Promise<number> {
  nameCrashPointProcess(cfg.name);
  const crashPoints = crashPointsDir();
  if (crashPoints !== null) log.warn(`crash points are armed from ${crashPoints} (COFFEE_CRASH_POINTS_DIR): this process kills itself at any point a test arms there; unset it outside tests`);
  let instance: RoleInstance | null = null;
  let transport: AmqpTransport | null = null;
  // Until the role exists there is nothing to shut down, so a signal ends the process at once,
  // while it waits for its broker as well, with the exit code of a stop once running (0).
  // Handled, not left to the default: a SIGINT a script's background job inherited as ignored was
  // ignored for as long as the broker stayed away. Its files are as a SIGKILL would leave them:
  // a handler runs between turns of the event loop, and every log write is synchronous.
  let onSignal = (signal: "SIGINT" | "SIGTERM"): void => {
    log.info(`${signal} while starting: stopped`);
    process.exit(0);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  const metrics = new CoffeeMetrics({ role, name: cfg.name }, { processMetrics: true });
  const metricsServer = serveMetrics(metrics, cfg.metricsPort, cfg.metricsHost, log);
  const governor = startHeapGovernor(cfg.heapLimitMb);
  const health = await startHealthServer({
    port: cfg.healthPort,
    host: cfg.healthHost,
    status: () => ({
      role, name: cfg.name, namespace: cfg.namespace, state: instance ? "running" : "starting",
      rssMb: Math.round(process.memoryUsage.rss() / 1_048_576), heapMb: Math.round(heapSize() / 1_048_576), gcForced: governor.collections,
      ...(instance?.status() ?? {}),
      // "blocked": a resource alarm, said by the broker; the role's publishes wait until it clears.
      ...(transport ? { broker: !transport.connected ? "reconnecting" : transport.publishingBlocked() ? "blocked" : "connected" } : {}),
    }),
  });
  log.info(`health on udp/${health.port}`);
  transport = await openAmqp(cfg, log);
  // Every role declares the whole topology, so no publish is lost to a not-yet-declared queue.
  await transport.declare(allQueues());
  const running = await create(governedTransport(meteredTransport(transport, metrics), governor), metrics, governor);
  instance = running;
  onSignal = signalStopper({ shutdown: () => running.shutdown(), log, exit: (code) => process.exit(code) });
  await running.run();
  health.close();
  metricsServer?.stop();
  governor.stop();
  await transport.close();
  return 0;
}
