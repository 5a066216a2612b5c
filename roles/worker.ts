/**
 * Worker role: stateless work as competing consumers, either one stage of the topology or a
 * chain of stages fused in memory (src/workUnit.ts). Each input batch yields exactly one output
 * per published stage with the same lineage (session, entity, seq), even when empty, and the
 * input is acked only after the broker confirmed every output.
 */
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { Command } from "../src/command.ts";
import { ConfigError, errorMessage, hasCode } from "../src/errors.ts";
import { crashPoint } from "../src/crashPoint.ts";
import { failSession, failUndecodable } from "../src/sessionFailure.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { CoffeeMetrics } from "../src/metrics.ts";
import { int, optStr, type OptionSpec } from "../src/options.ts";
import { COMMON_OPTIONS, commonConfig, runRoleProcess, type RoleInstance } from "../src/roleRuntime.ts";
import { CHAINS, chainByName, describeChain, STAGES, stageByName } from "../src/topology.ts";
import type { Consumer, Delivery, Transport } from "../src/transport.ts";
import { chainUnit, stageUnit, type UnitOutput, type WorkUnit } from "../src/workUnit.ts";

/** Worker options, compiled. */
export interface WorkerConfig {
  unit: WorkUnit;
  prefetch: number;
}

/** Create a worker on a transport; its per-stage rows and batches are counted in `metrics`. */
export async function createWorker(cfg: WorkerConfig, transport: Transport, log: Logger, metrics = new CoffeeMetrics({ role: "worker", name: cfg.unit.name })): Promise<RoleInstance> {
  const consumers: Consumer[] = [];
  let stopping = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const counters = { batches: 0, rowsIn: 0, rowsOut: 0, malformed: 0, failed: 0, retried: 0 };

  /** One delivery on `unit`'s queue: its outputs confirmed, then its ack. */
  async function handle(unit: WorkUnit, d: Delivery): Promise<void> {
    let msg;
    try {
      msg = decodeMessage(d.body);
    } catch (err) {
      // A message nobody can decode would loop forever if requeued: its session fails instead.
      counters.malformed++;
      await failUndecodable(transport, d.body, unit.name, errorMessage(err), log);
      d.ack();
      return;
    }
    if (msg.kind !== "data" || msg.bodyKind !== unit.input) {
      counters.malformed++;
      log.error(`dropping unexpected ${msg.kind} message (${msg.kind === "data" ? msg.bodyKind : "-"}) on ${unit.queue}`);
      d.ack();
      return;
    }
    const { session, entity, seq } = msg;
    let stages: [string, number, number][] = [];
    const run = (): UnitOutput[] => {
      stages = [];
      return unit.run(msg.body, (stage, rowsIn, rowsOut) => stages.push([stage, rowsIn, rowsOut]));
    };
    let outputs: UnitOutput[];
    try {
      outputs = run();
    } catch (first) {
      // Operators are pure: what throws on this batch throws again. Once more all the same,
      // here and after a collection, in case it was the process, not the batch (memory).
      counters.retried++;
      log.warn(`session ${session}: ${entity}#${seq} threw in ${unit.name}, trying once more: ${errorMessage(first)}`);
      Bun.gc(true);
      try {
        outputs = run();
      } catch (err) {
        counters.failed++;
        log.error(`session ${session}: ${entity}#${seq} cannot be processed, the session fails: ${errorMessage(err)}`);
        await failSession(transport, session, unit.name, `${entity} batch #${seq} could not be processed: ${errorMessage(err)}`);
        d.ack();
        return;
      }
    }
    try {
      await Promise.all(outputs.map(async (o) => {
        await transport.publish(o.routingKey, encodeMessage({ kind: "data", session, entity, seq, bodyKind: o.bodyKind, body: o.body }));
        crashPoint("worker.output-confirmed");
      }));
    } catch (err) {
      // An output the broker could never take (over its message size) fails the same way on
      // every redelivery: the session fails. Anything else (shutdown) is left to redelivery.
      if (!hasCode(err, "LIMIT_EXCEEDED")) throw err;
      counters.failed++;
      log.error(`session ${session}: ${entity}#${seq}'s output cannot be published, the session fails: ${errorMessage(err)}`);
      await failSession(transport, session, unit.name, `${entity} batch #${seq} could not be passed on: ${errorMessage(err)}`);
      d.ack();
      return;
    }
    // Counted once acked, so a batch that fails, or whose channel is lost before its ack, and
    // comes again is counted once.
    if (!d.ack()) return;
    counters.batches++;
    for (const [stage, rowsIn, rowsOut] of stages) metrics.stageDone(stage, entity, rowsIn, rowsOut);
  }

  return {
    async run() {
      // The drains too: a chain's other members' queues hold batches only after a split deployment.
      for (const unit of [cfg.unit, ...cfg.unit.drains]) {
        // A shutdown while an earlier one subscribed has cancelled what it found: not this one.
        if (stopping) break;
        consumers.push(await transport.consume(unit.queue, { prefetch: cfg.prefetch, concurrent: true }, (d) => handle(unit, d)));
        if (stopping) await consumers.at(-1)?.cancel();
      }
      const unit = cfg.unit;
      const drained = unit.drains.length > 0 ? `; and ${unit.drains.map((u) => u.queue).join(", ")}, for what a --deploy split cluster left there` : "";
      log.info(`${unit.stages.length > 1 ? `chain ${unit.name} (${unit.stages.join(" → ")})` : `stage ${unit.name}`} consuming ${unit.queue} (prefetch ${cfg.prefetch})${drained}`);
      await finished;
    },
    async shutdown() {
      stopping = true;
      await Promise.all(consumers.map((c) => c.cancel()));
      done();
    },
    status: () => ({ unit: cfg.unit.name, batches: counters.batches, malformed: counters.malformed, failedSessions: counters.failed, retriedBatches: counters.retried }),
  };
}

/** A worker's options besides what it runs: coffee up reads them from its environment for in-process workers too. */
export const WORKER_TUNING_OPTIONS: readonly OptionSpec[] = [
  { name: "prefetch", type: "int", env: "COFFEE_PREFETCH", default: 2, min: 1, max: 10000, help: "unacked batches in flight per queue consumed (a fused chain also reads its later stages' queues, idle unless a split deployment left batches there); a batch is up to a MiB, and one waiting behind the one in work keeps the worker busy" },
];

const OPTIONS: readonly OptionSpec[] = [
  { name: "stage", type: "enum", env: "COFFEE_STAGE", choices: STAGES.map((s) => s.name), help: "run this one stage (give --stage or --chain)" },
  { name: "chain", type: "enum", env: "COFFEE_CHAIN", choices: CHAINS.map((c) => c.name), help: `run a chain of stages fused in memory (${CHAINS.map((c) => `${c.name}: ${describeChain(c)}`).join(" | ")})` },
  ...WORKER_TUNING_OPTIONS,
  ...COMMON_OPTIONS,
];

/** The unit the options name: exactly one of --stage and --chain. */
export function workUnitFrom(stageName: string | undefined, chainName: string | undefined): WorkUnit {
  if ((stageName === undefined) === (chainName === undefined)) throw new ConfigError("give exactly one of --stage (env COFFEE_STAGE) and --chain (env COFFEE_CHAIN)");
  if (stageName !== undefined) {
    const stage = stageByName(stageName);
    if (!stage) throw new ConfigError(`unknown stage ${stageName}`);
    return stageUnit(stage);
  }
  const chain = chainByName(chainName!);
  if (!chain) throw new ConfigError(`unknown chain ${chainName}`);
  return chainUnit(chain);
}

/** `coffee --role worker`. */
export const workerCommand: Command = {
  name: "worker",
  usage: "coffee --role worker (--stage NAME | --chain NAME) [options]",
  description: "Runs stateless work as a competing consumer: one stage (filter or partial group-by), or a chain of stages fused in one process.",
  options: OPTIONS,
  async run(values) {
    const unit = workUnitFrom(optStr(values, "stage"), optStr(values, "chain"));
    const common = commonConfig(values, unit.name);
    const log = createLogger(common.name);
    return runRoleProcess("worker", common, log, (t, metrics) => createWorker({ unit, prefetch: int(values, "prefetch") }, t, log, metrics));
  },
};
