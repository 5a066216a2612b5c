/**
 * `coffee compose`: prints the Docker Compose file of the cluster, rendered from the same
 * topology and plan `coffee up` uses, so the two deployments never drift apart.
 */
import { QUEUE_TYPES, type QueueType } from "../amqpTransport.ts";
import type { Command } from "../command.ts";
import { DEPLOY_MODES, type DeployMode } from "../clusterPlan.ts";
import { BROKER_MODES, composeHeader, renderCompose, type BrokerMode } from "../composeFile.ts";
import { int, str, type OptionSpec } from "../options.ts";
import { parseReplicas, STAGES } from "../topology.ts";

const OPTIONS: readonly OptionSpec[] = [
  { name: "replicas", type: "string", env: "COFFEE_REPLICAS", default: "", help: `worker replicas per stage (1..64 each), e.g. filter-year=3,group-q2=2 (stages: ${STAGES.map((s) => s.name).join(", ")}); with --deploy fused a chain runs as many replicas as its most replicated stage` },
  { name: "deploy", type: "enum", env: "COFFEE_DEPLOY", default: "fused", choices: DEPLOY_MODES, help: "fused: one service per chain replica (fewer broker hops); split: one service per stage replica" },
  { name: "monitors", type: "int", env: "COFFEE_MONITORS", default: 3, min: 1, max: 9, help: "monitor services (Bully-elected; they revive the others through the Docker API)" },
  { name: "queue-type", type: "enum", env: "COFFEE_QUEUE_TYPE", default: "classic", choices: QUEUE_TYPES, help: "RabbitMQ queue type: quorum for a RabbitMQ cluster across machines" },
  { name: "image", type: "string", env: "COFFEE_IMAGE", default: "coffee:local", help: "image every coffee service runs (built from compose/Dockerfile)" },
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "prefix of every queue and exchange, and the compose project's name (its containers and WAL volumes): lowercase letters, digits, - and _" },
  { name: "port", type: "int", env: "GATEWAY_PORT", default: 9000, min: 1, max: 65535, help: "host port the gateway is published on, at 127.0.0.1 unless COFFEE_GATEWAY_BIND is set where compose runs (0.0.0.0 for clients on other machines; set COFFEE_TOKEN then)" },
  { name: "services", type: "string", env: "COFFEE_COMPOSE_SERVICES", default: "", help: "comma-separated processes of the plan this host runs (e.g. gateway,agg-q1,transactions-chain-1), for one file per host with --broker external; its monitors watch and revive only those. Empty: every process" },
  { name: "broker", type: "enum", env: "COFFEE_COMPOSE_BROKER", default: "bundled", choices: BROKER_MODES, help: "bundled: a RabbitMQ service in the file; external: none, every service uses AMQP_URL from the environment compose runs in (a RabbitMQ cluster; compose refuses to start without it)" },
];

/** The command line that reproduces `values` (for the generated file's header). */
function commandLine(values: Record<string, unknown>): string {
  const parts = ["coffee compose"];
  for (const o of OPTIONS) if (values[o.name] !== o.default) parts.push(`--${o.name} ${String(values[o.name])}`);
  return parts.join(" ");
}

/** `coffee compose`. */
export const composeCommand: Command = {
  name: "compose",
  usage: "coffee compose [--replicas stage=n,...] [--monitors N] [--queue-type classic|quorum] [--broker bundled|external] > compose/docker-compose.yml",
  description: "Prints the Docker Compose file of the cluster (one image, every role), from the same topology coffee up runs.",
  options: OPTIONS,
  run(values) {
    const doc = renderCompose({
      replicas: parseReplicas(str(values, "replicas")),
      deploy: str(values, "deploy") as DeployMode,
      monitors: int(values, "monitors"),
      queueType: str(values, "queue-type") as QueueType,
      image: str(values, "image"),
      namespace: str(values, "namespace"),
      gatewayPort: int(values, "port"),
      broker: str(values, "broker") as BrokerMode,
      services: str(values, "services") === "" ? null : str(values, "services").split(",").map((s) => s.trim()).filter((s) => s !== ""),
    });
    process.stdout.write(`${composeHeader(commandLine(values))}${Bun.YAML.stringify(doc, null, 2)}\n`);
    return Promise.resolve(0);
  },
};
