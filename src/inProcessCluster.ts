/**
 * Gateway, workers and aggregators of a whole cluster inside one process, each on its own
 * Transport from `transportFor`. `coffee up` uses it over the in-memory transport when no broker
 * is around; tests use it to run the real roles in-process.
 */
import { AGGREGATOR_TUNING_OPTIONS, createAggregator } from "../roles/aggregator.ts";
import { createGateway, type GatewayConfig, type GatewayInstance } from "../roles/gateway.ts";
import { createWorker, WORKER_TUNING_OPTIONS, workUnitFrom } from "../roles/worker.ts";
import { planWorkers, type DeployMode } from "./clusterPlan.ts";
import { createLogger, type Logger } from "./log.ts";
import { int, parseOptions } from "./options.ts";
import type { RoleInstance } from "./roleRuntime.ts";
import { QUERIES } from "./schema.ts";
import { allQueues } from "./topology.ts";
import type { Transport } from "./transport.ts";

/** One role instance of an in-process cluster. */
export interface InProcessRole {
  name: string;
  role: "gateway" | "worker" | "aggregator";
  instance: RoleInstance;
}

/** A running in-process cluster. */
export interface InProcessCluster {
  roles: InProcessRole[];
  gatewayPort(): number;
  /** Shut every role down; resolves once each one's run() has ended. */
  shutdown(): Promise<void>;
}

/** What in-process workers and aggregators run with (coffee up reads it from its environment). */
export interface InProcessTuning {
  workerPrefetch: number;
  aggregatorPrefetch: number;
  chunkBytes: number;
}

/** In-process defaults: deliveries cost nothing in memory, so deeper prefetch than over a broker. */
export const IN_PROCESS_TUNING: InProcessTuning = { workerPrefetch: 64, aggregatorPrefetch: 128, chunkBytes: 256 * 1024 };

/**
 * The tuning the roles' own variables ask for (COFFEE_PREFETCH, COFFEE_CHUNK_BYTES), checked as
 * the roles check them (a bad value is CONFIG_INVALID naming the variable); in-process defaults
 * for what is unset.
 */
export function inProcessTuningFromEnv(env: Record<string, string | undefined>): InProcessTuning {
  const worker = parseOptions(WORKER_TUNING_OPTIONS, [], env);
  const aggregator = parseOptions(AGGREGATOR_TUNING_OPTIONS, [], env);
  // Empty means unset, as for every option.
  const prefetchSet = env.COFFEE_PREFETCH !== undefined && env.COFFEE_PREFETCH !== "";
  return {
    workerPrefetch: prefetchSet ? int(worker, "prefetch") : IN_PROCESS_TUNING.workerPrefetch,
    aggregatorPrefetch: prefetchSet ? int(aggregator, "prefetch") : IN_PROCESS_TUNING.aggregatorPrefetch,
    chunkBytes: int(aggregator, "chunk-bytes"),
  };
}

/** Start every non-monitor role in this process; resolves once the gateway listens. */
export async function startInProcessCluster(
  gateway: GatewayConfig,
  replicas: ReadonlyMap<string, number>,
  transportFor: (name: string, log: Logger) => Transport,
  quiet = false,
  deploy: DeployMode = "fused",
  /** Told when a role's run() ends, with its error (null: it returned); shutdown() ends them all too. */
  onStopped: (name: string, error: unknown) => void = () => {},
  /** Each role's logger, instead of the one `quiet` chooses (tests that wait for a log line). */
  logOf?: (name: string) => Logger,
  tuning: InProcessTuning = IN_PROCESS_TUNING,
): Promise<InProcessCluster> {
  const roles: InProcessRole[] = [];
  const ended: Promise<void>[] = [];
  const logFor = (name: string): Logger => logOf?.(name) ?? (quiet ? { info() {}, warn() {}, error: createLogger(name).error } : createLogger(name));
  const add = async (name: string, role: InProcessRole["role"], make: (t: Transport, log: Logger) => Promise<RoleInstance>): Promise<void> => {
    const log = logFor(name);
    const t = transportFor(name, log);
    await t.declare(allQueues());
    const instance = await make(t, log);
    roles.push({ name, role, instance });
    ended.push(instance.run().then(() => onStopped(name, null), (err: unknown) => {
      log.error(`stopped with an error: ${String(err)}`);
      onStopped(name, err);
    }));
  };
  for (const w of planWorkers(replicas, deploy)) {
    await add(w.name, "worker", (t, log) => createWorker({ unit: workUnitFrom(w.stage, w.chain), prefetch: tuning.workerPrefetch }, t, log));
  }
  for (const q of QUERIES) await add(`agg-${q}`, "aggregator", (t, log) => createAggregator({ query: q, prefetch: tuning.aggregatorPrefetch, chunkBytes: tuning.chunkBytes, stateDir: null }, t, log));
  let gw: GatewayInstance | null = null;
  await add("gateway", "gateway", async (t, log) => (gw = await createGateway(gateway, t, log)));
  await (gw as GatewayInstance | null)!.listening;
  return {
    roles,
    gatewayPort: () => gw!.port(),
    shutdown: async () => {
      for (const r of roles) await r.instance.shutdown();
      await Promise.all(ended);
    },
  };
}
