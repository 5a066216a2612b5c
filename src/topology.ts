/**
 * The dataflow, described once as data. Workers, aggregators, `coffee up` (and later compose and
 * benches) all read it: which queue each stage consumes, which routing keys feed it, what it runs.
 */
import { ConfigError } from "./errors.ts";
import { QUERIES, type Entity, type QueryName } from "./schema.ts";
import type { OperatorName } from "./operators.ts";
import { REDUCERS } from "./queries/index.ts";

/** A stateless worker stage: consumes `inputs`, applies `operator`, publishes on `<name>.out`. */
export interface StageSpec {
  name: string;
  operator: OperatorName;
  inputs: readonly string[];
  replicas: number;
}

/** Routing key of client data of an entity, as published by the gateway. */
export const dataKey = (entity: Entity): string => `in.${entity}`;
/** Routing key of an entity's end-of-stream markers. */
export const eosKey = (entity: Entity): string => `eos.${entity}`;
/** Routing key of a stage's output. */
export const outKey = (stage: string): string => `${stage}.out`;
/** Routing key of session purges (every aggregator listens). */
export const PURGE_KEY = "purge";
/** Routing key of result chunks (the gateway listens). */
export const RESULTS_KEY = "results";

/** The stateless stages. */
export const STAGES: readonly StageSpec[] = [
  { name: "filter-year", operator: "filter-year", inputs: [dataKey("transactions")], replicas: 1 },
  { name: "filter-time", operator: "filter-time", inputs: [outKey("filter-year")], replicas: 1 },
  { name: "filter-amount", operator: "filter-amount", inputs: [outKey("filter-time")], replicas: 1 },
  { name: "group-q3", operator: "group-q3", inputs: [outKey("filter-time")], replicas: 1 },
  { name: "group-q4", operator: "group-q4", inputs: [outKey("filter-year")], replicas: 1 },
  { name: "filter-items-year", operator: "filter-items-year", inputs: [dataKey("transaction_items")], replicas: 1 },
  { name: "group-q2", operator: "group-q2", inputs: [outKey("filter-items-year")], replicas: 1 },
];

/** Which stage's output carries each query's fact data to its aggregator. */
const QUERY_FACT_SOURCE: Readonly<Record<QueryName, string>> = {
  q1: "filter-amount",
  q2: "group-q2",
  q3: "group-q3",
  q4: "group-q4",
};

/** An aggregator: consumes its facts from a stage, dimension entities straight from the gateway. */
export interface AggregatorSpec {
  query: QueryName;
  queue: string;
  inputs: readonly string[];
}

/** Fact entities reach aggregators through stages; every other needed entity comes directly. */
const FACT_ENTITIES: readonly Entity[] = ["transactions", "transaction_items"];

/** The four aggregators, with their bindings derived from what each reducer needs. */
export const AGGREGATORS: readonly AggregatorSpec[] = QUERIES.map((query) => {
  const needs = REDUCERS[query].needs;
  const dims = needs.filter((e) => !FACT_ENTITIES.includes(e));
  return {
    query,
    queue: `agg-${query}`,
    inputs: [outKey(QUERY_FACT_SOURCE[query]), ...dims.map(dataKey), ...needs.map(eosKey), PURGE_KEY],
  };
});

/** A queue with the routing keys bound to it. */
export interface QueueSpec {
  name: string;
  bindings: readonly string[];
}

/** Every queue of a deployment (unprefixed; transports add the namespace). */
export function allQueues(): QueueSpec[] {
  return [
    ...STAGES.map((s) => ({ name: s.name, bindings: s.inputs })),
    ...AGGREGATORS.map((a) => ({ name: a.queue, bindings: a.inputs })),
    { name: "results", bindings: [RESULTS_KEY] },
  ];
}

/** Look a stage up by name. */
export function stageByName(name: string): StageSpec | undefined {
  return STAGES.find((s) => s.name === name);
}

/**
 * Parse `--replicas filter-year=3,group-q2=2` into counts per stage (others keep their default).
 * Unknown stages and counts outside 1..64 are ConfigErrors.
 */
export function parseReplicas(spec: string): Map<string, number> {
  const counts = new Map(STAGES.map((s) => [s.name, s.replicas]));
  if (spec.trim() === "") return counts;
  for (const part of spec.split(",")) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m) throw new ConfigError(`--replicas: "${part}" is not stage=count`);
    const [, name, n] = m as unknown as [string, string, string];
    if (!counts.has(name)) throw new ConfigError(`--replicas: unknown stage "${name}" (stages: ${STAGES.map((s) => s.name).join(", ")})`);
    const count = Number(n);
    if (count < 1 || count > 64) throw new ConfigError(`--replicas: replicas of ${name} must be 1..64, got ${count}`);
    counts.set(name, count);
  }
  return counts;
}
