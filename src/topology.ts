/**
 * The dataflow, described once as data. Workers, aggregators, `coffee up`, `coffee compose` and
 * the benches all read it: which queue each stage consumes, which routing keys feed it, what it runs.
 */
import { ConfigError, InternalError } from "./errors.ts";
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
/** Routing key of the gateway's broker probes (src/publishProbe.ts); bound to PROBE_QUEUE only, or to nothing. */
export const PROBE_KEY = "probe";
/**
 * The queue the probes go to on quorum queues: a quorum queue too, so a probe is confirmed only
 * while a majority of its members can take a publish, as the pipeline's queues need; capped at
 * 0 messages, so the broker drops each probe once it has taken it. On classic queues there is
 * none: any node confirms a probe bound to nothing, which tells as much there (a resource alarm
 * holds the whole cluster), and a classic queue would tie every role's declare to its one node.
 */
export const PROBE_QUEUE = "probe";

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

/**
 * Chains of stages that may run fused in one process (Flink-style operator chaining): the
 * chain consumes its head stage's queue, passes bodies between its stages in memory and
 * publishes only the outputs someone outside the chain consumes. Same DAG, fewer broker hops;
 * `coffee up --deploy split` runs every stage as its own process instead.
 */
export interface ChainSpec {
  name: string;
  /** Member stages in topological order; the first is the head (its inputs come from outside). */
  stages: readonly string[];
}

/** The chains; every stage belongs to exactly one. */
export const CHAINS: readonly ChainSpec[] = [
  { name: "transactions", stages: ["filter-year", "filter-time", "filter-amount", "group-q3", "group-q4"] },
  { name: "items", stages: ["filter-items-year", "group-q2"] },
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

/** The aggregator that finishes `query`. */
export function aggregatorOf(query: QueryName): AggregatorSpec {
  const spec = AGGREGATORS.find((a) => a.query === query);
  if (!spec) throw new InternalError(`no aggregator finishes ${query}`);
  return spec;
}

/** A queue with the routing keys bound to it. */
export interface QueueSpec {
  name: string;
  bindings: readonly string[];
  /** Ready messages the queue keeps (x-max-length, the oldest dropped beyond it); unbounded when absent. */
  maxLength?: number;
  /** Declared only where the queue type is quorum; elsewhere what is published to its bindings goes nowhere. */
  quorumOnly?: boolean;
}

/** The queues of `specs` a broker with `queueType` queues declares: quorum-only ones only on quorum queues. */
export function queuesFor(specs: readonly QueueSpec[], queueType: "classic" | "quorum"): QueueSpec[] {
  return specs.filter((q) => !q.quorumOnly || queueType === "quorum");
}

/** Every queue of a deployment (unprefixed; transports add the namespace). */
export function allQueues(): QueueSpec[] {
  return [
    ...STAGES.map((s) => ({ name: s.name, bindings: s.inputs })),
    ...AGGREGATORS.map((a) => ({ name: a.queue, bindings: a.inputs })),
    { name: "results", bindings: [RESULTS_KEY] },
    { name: PROBE_QUEUE, bindings: [PROBE_KEY], maxLength: 0, quorumOnly: true },
  ];
}

/** The queues batches flow through between the gateway and the results: every stage's and aggregator's. */
export const PIPELINE_QUEUES: ReadonlySet<string> = new Set([...STAGES.map((s) => s.name), ...AGGREGATORS.map((a) => a.queue)]);

/** Look a stage up by name. */
export function stageByName(name: string): StageSpec | undefined {
  return STAGES.find((s) => s.name === name);
}

/**
 * Parse `--replicas filter-year=3,group-q2=2` into counts per stage (others keep their default).
 * Unknown stages, a stage named twice and counts outside 1..64 are ConfigErrors.
 */
export function parseReplicas(spec: string): Map<string, number> {
  const counts = new Map(STAGES.map((s) => [s.name, s.replicas]));
  if (spec.trim() === "") return counts;
  const named = new Set<string>();
  for (const part of spec.split(",")) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m) throw new ConfigError(`--replicas: "${part}" is not stage=count`);
    // A match of this pattern always has both groups; RegExpExecArray types them as optional.
    const [, name, n] = m as unknown as [string, string, string];
    if (!counts.has(name)) throw new ConfigError(`--replicas: unknown stage "${name}" (stages: ${STAGES.map((s) => s.name).join(", ")})`);
    const count = Number(n);
    if (count < 1 || count > 64) throw new ConfigError(`--replicas: replicas of ${name} must be 1..64, got ${count}`);
    // Two counts for one stage is a typo whichever wins.
    if (named.has(name)) throw new ConfigError(`--replicas: ${name} is given twice`);
    named.add(name);
    counts.set(name, count);
  }
  return counts;
}

/** One stage inside a chain: where its input comes from and whether its output leaves the chain. */
export interface ChainNode {
  stage: StageSpec;
  /** The chain member whose output this stage reads; null for the head. */
  from: string | null;
  /** True when a stage outside the chain or an aggregator consumes this stage's output. */
  external: boolean;
}

/** Look a chain up by name. */
export function chainByName(name: string): ChainSpec | undefined {
  return CHAINS.find((c) => c.name === name);
}

/** The chain a stage belongs to (every stage is in exactly one). */
export function chainOf(stage: string): ChainSpec {
  const chain = CHAINS.find((c) => c.stages.includes(stage));
  if (!chain) throw new InternalError(`stage ${stage} belongs to no chain`);
  return chain;
}

/**
 * Resolve a chain against the stages: each member's in-chain source and whether its output is
 * consumed outside. Throws when the chain is not a tree fed by its head alone (a topology bug).
 */
export function chainNodes(chain: ChainSpec): ChainNode[] {
  const members = new Set(chain.stages);
  return chain.stages.map((name, i) => {
    const stage = stageByName(name);
    if (!stage) throw new InternalError(`chain ${chain.name}: unknown stage ${name}`);
    const sources = stage.inputs.map((key) => chain.stages.slice(0, i).find((m) => outKey(m) === key) ?? null);
    if (i === 0 ? sources.some((s) => s !== null) : sources.length !== 1 || sources[0] === null) {
      throw new InternalError(`chain ${chain.name}: stage ${name} must read exactly one earlier member (or be the head)`);
    }
    const key = outKey(name);
    const external = STAGES.some((s) => !members.has(s.name) && s.inputs.includes(key)) || AGGREGATORS.some((a) => a.inputs.includes(key));
    return { stage, from: i === 0 ? null : sources[0]!, external };
  });
}

/**
 * A chain's shape for help text: each member with the members that read its output, since a
 * chain is a tree and not a line ("filter-year → filter-time, group-q4; filter-time → ...").
 */
export function describeChain(chain: ChainSpec): string {
  const readers = new Map<string, string[]>();
  for (const node of chainNodes(chain)) {
    if (node.from !== null) readers.set(node.from, [...(readers.get(node.from) ?? []), node.stage.name]);
  }
  return [...readers].map(([from, to]) => `${from} → ${to.join(", ")}`).join("; ");
}
