/**
 * What one worker process runs: a single stage, or a whole chain of stages fused in memory.
 * Either way it turns each input body into one output per published stage, so every output
 * keeps its input's lineage and completeness counts stay 1:1. A chain consumes its head's queue,
 * and its other members' queues too, for what a split deployment left there (`drains`).
 */
import { bodyRows, type BodyKind, type BodyOf } from "./bodies.ts";
import { OPERATORS } from "./operators.ts";
import { chainNodes, outKey, type ChainNode, type ChainSpec, type StageSpec } from "./topology.ts";

/** One body to publish, under its stage's routing key. */
export interface UnitOutput {
  routingKey: string;
  bodyKind: BodyKind;
  body: BodyOf<BodyKind>;
}

/**
 * Told, per stage a unit ran on one input body, how many rows went in and came out: the
 * per-stage view of metrics, the same whether the stage runs alone or fused in a chain.
 */
export type StageObserver = (stage: string, rowsIn: number, rowsOut: number) => void;

/** A deployable unit of stateless work. */
export interface WorkUnit {
  /** Stage or chain name, for logs. */
  name: string;
  /** The queue it consumes (the head stage's). */
  queue: string;
  /** Body kind it accepts. */
  input: BodyKind;
  /** Stages it runs, in order. */
  stages: readonly string[];
  /**
   * Units to consume beside this one: for a fused chain, the rest of the chain from each member
   * past its head, on that member's own queue. Fused, nothing is published to those queues; a
   * `--deploy split` cluster may have left batches there, and a redeploy as fused must not
   * strand them (their sessions would never complete). Empty for anything else.
   */
  drains: readonly WorkUnit[];
  /** Pure (apart from `observe`): the outputs of one input body. */
  run(body: BodyOf<BodyKind>, observe?: StageObserver): UnitOutput[];
}

/** One stage on its own: its output always leaves the process. */
export function stageUnit(stage: StageSpec): WorkUnit {
  const op = OPERATORS[stage.operator];
  const routingKey = outKey(stage.name);
  return {
    name: stage.name, queue: stage.name, input: op.input, stages: [stage.name], drains: [],
    run(body, observe) {
      const out = op.apply(body);
      observe?.(stage.name, bodyRows(op.input, body), bodyRows(op.output, out));
      return [{ routingKey, bodyKind: op.output, body: out }];
    },
  };
}

/** A chain fused: intermediate bodies stay in memory; only external outputs are published. */
export function chainUnit(chain: ChainSpec): WorkUnit {
  const nodes = chainNodes(chain);
  return fusedUnit(chain.name, nodes, nodes.slice(1).map((n) => fusedUnit(`${chain.name}@${n.stage.name}`, subtreeOf(nodes, n.stage.name), [])));
}

/**
 * The members a batch in `start`'s queue still has to pass: `start` (now reading from outside)
 * and every member downstream of it. Members are in topological order, so one pass finds them.
 */
function subtreeOf(nodes: readonly ChainNode[], start: string): ChainNode[] {
  const kept = new Set<string>();
  const sub: ChainNode[] = [];
  for (const n of nodes) {
    if (n.stage.name === start) sub.push({ ...n, from: null });
    else if (n.from !== null && kept.has(n.from)) sub.push(n);
    else continue;
    kept.add(n.stage.name);
  }
  return sub;
}

/** Run `nodes` (a tree fed by the first) fused; a subtree's outputs leave the process where the whole chain's would. */
function fusedUnit(name: string, nodes: readonly ChainNode[], drains: readonly WorkUnit[]): WorkUnit {
  const head = nodes[0]!;
  return {
    name, queue: head.stage.name, input: OPERATORS[head.stage.operator].input, stages: nodes.map((n) => n.stage.name), drains,
    run(body, observe) {
      const bodies = new Map<string, BodyOf<BodyKind>>();
      const outputs: UnitOutput[] = [];
      for (const n of nodes) {
        const op = OPERATORS[n.stage.operator];
        // Members are in topological order, so the source's body is already there.
        const input = n.from === null ? body : bodies.get(n.from)!;
        const out = op.apply(input);
        observe?.(n.stage.name, bodyRows(op.input, input), bodyRows(op.output, out));
        bodies.set(n.stage.name, out);
        if (n.external) outputs.push({ routingKey: outKey(n.stage.name), bodyKind: op.output, body: out });
      }
      return outputs;
    },
  };
}
