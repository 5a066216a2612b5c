/**
 * The Docker Compose rendering of the cluster: the same plan `coffee up` runs (src/clusterPlan.ts,
 * from the topology), one service per process, all from one image, plus RabbitMQ, an optional
 * client and an optional Prometheus scraping every process. Pure: options in, a compose document
 * (plain object) out; `coffee compose` prints it.
 */
import type { QueueType } from "./amqpTransport.ts";
import { planCluster, type ClusterProcess, type DeployMode, type PlannedProcess } from "./clusterPlan.ts";
import { ConfigError } from "./errors.ts";
import { DEFAULT_METRICS_PORT } from "./metrics.ts";
import { SHUTDOWN_GRACE_MS } from "./signalStop.ts";

/** What `coffee compose` varies. */
export interface ComposeOptions {
  replicas: ReadonlyMap<string, number>;
  deploy: DeployMode;
  monitors: number;
  queueType: QueueType;
  /** Image every coffee service runs. */
  image: string;
  /** Queue and exchange prefix, and the compose project's name (checkProjectName). */
  namespace: string;
  /** Gateway port published on the host. */
  gatewayPort: number;
  /** bundled: a RabbitMQ service in the file; external: the operator's broker (a cluster), at AMQP_URL. */
  broker: BrokerMode;
  /**
   * The processes this file runs (one host's share of the plan), or null for all of them. Its
   * monitors watch and revive only these: they reach services by name on this project's network
   * and revive through this host's Docker socket.
   */
  services: readonly string[] | null;
}

/** Where the services' broker comes from. */
export const BROKER_MODES = ["bundled", "external"] as const;
/** bundled: a RabbitMQ service in the file; external: AMQP_URL from the environment compose runs in. */
export type BrokerMode = (typeof BROKER_MODES)[number];

/** Ports inside the containers: every container has its own address, so they can be fixed. */
export const COMPOSE_PORTS = { gateway: 9000, health: 9101, election: 9200, metrics: DEFAULT_METRICS_PORT } as const;
/** Where the Prometheus service reads its scrape config (a compose config). */
export const PROMETHEUS_CONFIG_FILE = "/etc/prometheus/prometheus.yml";
/** Where stateful services keep their WAL (a named volume per service). */
export const COMPOSE_STATE_DIR = "/var/lib/coffee";
/** Where monitors find the cluster description (a compose config). */
export const COMPOSE_CLUSTER_FILE = "/etc/coffee/cluster.json";

type Service = Record<string, unknown>;

/**
 * A ConfigError unless `namespace` can name a compose project (Docker's rule: lowercase letters,
 * digits, dashes and underscores, starting with a letter or digit). The project is named after the
 * namespace so that two namespaces on one host never share containers or WAL volumes: a second
 * project under one fixed name would recreate the first's containers on its volumes.
 */
function checkProjectName(namespace: string): void {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(namespace)) throw new ConfigError(`--namespace "${namespace}" also names the compose project, which takes only lowercase letters, digits, "-" and "_", starting with a letter or digit`);
}

/** Where the gateway is published on the host: loopback unless COFFEE_GATEWAY_BIND says otherwise (clients on other machines; then set COFFEE_TOKEN too). */
const GATEWAY_BIND = "${COFFEE_GATEWAY_BIND:-127.0.0.1}";

/** The broker URL every coffee service gets with the bundled broker; credentials come from the operator's environment. */
const BUNDLED_AMQP_URL = "amqp://${RABBITMQ_USER:-coffee}:${RABBITMQ_PASSWORD:-coffee}@rabbitmq:5672";
/** With an external broker the operator must say where it is: compose refuses to start without it. */
const EXTERNAL_AMQP_URL = "${AMQP_URL:?set AMQP_URL to your RabbitMQ: its nodes comma-separated, or a load balancer}";

/** The processes monitors watch, as cluster.json entries addressed by service name. */
export function composeClusterEntries(plan: readonly PlannedProcess[]): ClusterProcess[] {
  return plan.map((p) => ({
    name: p.name, role: p.role, pid: null, alive: true, healthPort: COMPOSE_PORTS.health, metricsPort: COMPOSE_PORTS.metrics, host: p.name,
    ...(p.stage ? { stage: p.stage } : {}), ...(p.chain ? { chain: p.chain } : {}), ...(p.query ? { query: p.query } : {}),
  }));
}

/**
 * Prometheus's configuration: one job scraping every coffee service by name, so the targets
 * follow the topology and replica counts like the services do.
 */
export function prometheusConfig(plan: readonly PlannedProcess[]): Record<string, unknown> {
  return {
    global: { scrape_interval: "5s", evaluation_interval: "5s" },
    scrape_configs: [{ job_name: "coffee", static_configs: [{ targets: plan.map((p) => `${p.name}:${COMPOSE_PORTS.metrics}`) }] }],
  };
}

/**
 * The part of `plan` named in `services` (null: all of it), with its own `monitors` monitors
 * always; a name the plan does not have, or a monitor named, is a ConfigError.
 */
export function hostPlan(plan: readonly PlannedProcess[], services: readonly string[] | null): PlannedProcess[] {
  if (services === null) return [...plan];
  const known = plan.filter((p) => p.role !== "monitor").map((p) => p.name);
  for (const name of services) {
    if (!known.includes(name)) throw new ConfigError(`--services: "${name}" is not a process of this plan (${known.join(", ")}; each host runs its own monitors, --monitors of them)`);
  }
  return plan.filter((p) => p.role === "monitor" || services.includes(p.name));
}

/** The compose document for `opts`; a ConfigError for options that cannot make one (the namespace, --services). */
export function renderCompose(opts: ComposeOptions): Record<string, unknown> {
  checkProjectName(opts.namespace);
  if (opts.services !== null && opts.broker === "bundled") throw new ConfigError("--services splits the cluster over hosts, which need one broker all of them reach: add --broker external (a RabbitMQ cluster at AMQP_URL)");
  const plan = hostPlan(planCluster(opts.replicas, opts.monitors, opts.deploy), opts.services);
  const monitors = plan.filter((p) => p.role === "monitor");
  const peers = monitors.map((m, i) => `${i + 1}=${m.name}:${COMPOSE_PORTS.election}`).join(",");
  const bundled = opts.broker === "bundled";
  const services: Record<string, Service> = {};
  const volumes: Record<string, Record<string, never>> = {};
  if (bundled) {
    services.rabbitmq = {
      image: "rabbitmq:3.13-management",
      hostname: "rabbitmq",
      environment: { RABBITMQ_DEFAULT_USER: "${RABBITMQ_USER:-coffee}", RABBITMQ_DEFAULT_PASS: "${RABBITMQ_PASSWORD:-coffee}" },
      volumes: ["rabbitmq-data:/var/lib/rabbitmq"],
      ports: ["127.0.0.1:15672:15672"],
      healthcheck: { test: ["CMD", "rabbitmq-diagnostics", "-q", "ping"], interval: "5s", timeout: "10s", retries: 12, start_period: "20s" },
      restart: "unless-stopped",
    };
    volumes["rabbitmq-data"] = {};
  }
  for (const p of plan) {
    const stateful = p.role === "gateway" || p.role === "aggregator";
    const environment: Record<string, string> = {
      COFFEE_NAME: p.name,
      COFFEE_NAMESPACE: opts.namespace,
      COFFEE_QUEUE_TYPE: opts.queueType,
      AMQP_URL: bundled ? BUNDLED_AMQP_URL : EXTERNAL_AMQP_URL,
      HEALTH_PORT: String(COMPOSE_PORTS.health),
      COFFEE_METRICS_PORT: String(COMPOSE_PORTS.metrics),
    };
    const service: Service = {
      image: opts.image,
      build: { context: "..", dockerfile: "compose/Dockerfile" },
      command: ["--role", p.role, ...p.args],
      environment,
      ...(bundled ? { depends_on: { rabbitmq: { condition: "service_healthy" } } } : {}),
      // The health PING monitors send, from inside the container, and --ready: `docker ps` shows a
      // service that answers but has no broker (still starting, or reconnecting) as unhealthy.
      healthcheck: { test: ["CMD", "coffee", "ping", "--ready", "--to", `127.0.0.1:${COMPOSE_PORTS.health}`], interval: "10s", timeout: "5s", retries: 3, start_period: "30s" },
      // Monitors revive the others through the Docker API; compose itself restarts only
      // monitors (if every monitor died, nothing else would), as `coffee up` does.
      restart: p.role === "monitor" ? "unless-stopped" : "no",
      // Longer than a role's own grace (src/signalStop.ts): a role whose stop hangs exits by
      // itself and says why, rather than being SIGKILLed at Docker's default 10 s.
      stop_grace_period: `${(SHUTDOWN_GRACE_MS + 5_000) / 1000}s`,
    };
    if (stateful) {
      environment.COFFEE_STATE_DIR = COMPOSE_STATE_DIR;
      volumes[`${p.name}-state`] = {};
      service.volumes = [`${p.name}-state:${COMPOSE_STATE_DIR}`];
    }
    if (p.role === "gateway") {
      Object.assign(environment, { GATEWAY_PORT: String(COMPOSE_PORTS.gateway), COFFEE_TOKEN: "${COFFEE_TOKEN:-}" });
      service.ports = [`${GATEWAY_BIND}:${opts.gatewayPort}:${COMPOSE_PORTS.gateway}`];
    }
    if (p.role === "monitor") {
      Object.assign(environment, {
        COFFEE_MONITOR_ID: String(monitors.indexOf(p) + 1),
        COFFEE_MONITOR_PEERS: peers,
        COFFEE_CLUSTER_FILE: COMPOSE_CLUSTER_FILE,
        COFFEE_REVIVE: "docker",
        COMPOSE_PROJECT_NAME: `\${COMPOSE_PROJECT_NAME:-${opts.namespace}}`,
        // The monitors' shared election key, as the gateway's token: from where compose runs.
        COFFEE_ELECTION_KEY: "${COFFEE_ELECTION_KEY:-}",
      });
      // The Docker socket is root-owned: monitors run as root to use it; nothing else does.
      service.user = "root";
      service.volumes = ["/var/run/docker.sock:/var/run/docker.sock"];
      service.configs = [{ source: "cluster", target: COMPOSE_CLUSTER_FILE }];
    }
    services[p.name] = service;
  }
  services.client = {
    image: opts.image,
    profiles: ["client"],
    command: ["--role", "client", "--data", "/data", "--out", "/out"],
    // No depends_on: `run` would start a gateway beside it, and on a host other than the
    // gateway's that second gateway would take results off the shared queue. The client waits
    // for the gateway itself (--connect-retry-s).
    environment: { COFFEE_GATEWAY: `\${COFFEE_GATEWAY:-gateway:${COMPOSE_PORTS.gateway}}`, COFFEE_TOKEN: "${COFFEE_TOKEN:-}" },
    volumes: ["${COFFEE_DATA:-./data}:/data:ro", "${COFFEE_OUT:-./out}:/out"],
    // Result files land in a host directory: write them as the host user, not as root.
    user: "${COFFEE_UID:-1000}:${COFFEE_GID:-1000}",
  };
  // Optional (`--profile metrics`): the processes serve /metrics whether or not anyone scrapes.
  services.prometheus = {
    image: "prom/prometheus:v2.55.1",
    profiles: ["metrics"],
    configs: [{ source: "prometheus", target: PROMETHEUS_CONFIG_FILE }],
    ports: ["127.0.0.1:9090:9090"],
    restart: "unless-stopped",
  };
  return {
    name: opts.namespace,
    services,
    volumes,
    configs: {
      cluster: { content: `${JSON.stringify(composeClusterEntries(plan), null, 2)}\n` },
      prometheus: { content: `${Bun.YAML.stringify(prometheusConfig(plan), null, 2)}\n` },
    },
  };
}

/** The committed file's header: where it comes from and how to regenerate it. */
export function composeHeader(command: string): string {
  return `# Generated by \`${command}\` from the topology in src/topology.ts.\n# Do not edit by hand: change the options and regenerate (test/compose.test.ts checks it).\n`;
}
