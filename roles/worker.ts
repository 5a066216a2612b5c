/**
 * Worker role: one stateless stage of the topology as competing consumers. Each input batch
 * yields exactly one output with the same lineage (session, entity, seq), even when empty, and
 * the input is acked only after the broker confirmed the output.
 */
import { decodeMessage, encodeMessage, type DataMessage } from "../src/codec.ts";
import type { Command } from "../src/command.ts";
import { ConfigError } from "../src/errors.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { OPERATORS } from "../src/operators.ts";
import { int, str, type OptionSpec } from "../src/options.ts";
import { COMMON_OPTIONS, commonConfig, runRoleProcess, type RoleInstance } from "../src/roleRuntime.ts";
import { STAGES, outKey, stageByName, type StageSpec } from "../src/topology.ts";
import type { Consumer, Transport } from "../src/transport.ts";

/** Worker options, compiled. */
export interface WorkerConfig {
  stage: StageSpec;
  prefetch: number;
}

/** Create a worker on a transport. */
export async function createWorker(cfg: WorkerConfig, transport: Transport, log: Logger): Promise<RoleInstance> {
  const operator = OPERATORS[cfg.stage.operator];
  let consumer: Consumer | null = null;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const counters = { batches: 0, rowsIn: 0, rowsOut: 0, malformed: 0 };

  return {
    async run() {
      consumer = await transport.consume(cfg.stage.name, { prefetch: cfg.prefetch, concurrent: true }, async (d) => {
        let msg;
        try {
          msg = decodeMessage(d.body);
        } catch (err) {
          // A message nobody can decode would loop forever if requeued: drop it loudly.
          counters.malformed++;
          log.error(`dropping undecodable message: ${(err as Error).message}`);
          d.ack();
          return;
        }
        if (msg.kind !== "data" || msg.bodyKind !== operator.input) {
          counters.malformed++;
          log.error(`dropping unexpected ${msg.kind} message (${msg.kind === "data" ? msg.bodyKind : "-"}) on ${cfg.stage.name}`);
          d.ack();
          return;
        }
        const body = operator.apply(msg.body);
        const out: DataMessage = { kind: "data", session: msg.session, entity: msg.entity, seq: msg.seq, bodyKind: operator.output, body };
        await transport.publish(outKey(cfg.stage.name), encodeMessage(out));
        d.ack();
        counters.batches++;
      });
      log.info(`stage ${cfg.stage.name} consuming (operator ${cfg.stage.operator}, prefetch ${cfg.prefetch})`);
      await finished;
    },
    async shutdown() {
      await consumer?.cancel();
      done();
    },
    status: () => ({ stage: cfg.stage.name, batches: counters.batches, malformed: counters.malformed }),
  };
}

const OPTIONS: readonly OptionSpec[] = [
  { name: "stage", type: "enum", env: "COFFEE_STAGE", required: true, choices: STAGES.map((s) => s.name), help: "the topology stage this worker runs" },
  { name: "prefetch", type: "int", env: "COFFEE_PREFETCH", default: 64, min: 1, max: 10000, help: "unacked batches in flight" },
  ...COMMON_OPTIONS,
];

/** `coffee --role worker`. */
export const workerCommand: Command = {
  name: "worker",
  usage: "coffee --role worker --stage NAME [options]",
  description: "Runs one stateless stage (filter or partial group-by) as a competing consumer.",
  options: OPTIONS,
  async run(values) {
    const stage = stageByName(str(values, "stage"));
    if (!stage) throw new ConfigError(`unknown stage ${str(values, "stage")}`);
    const common = commonConfig(values, stage.name);
    const log = createLogger(common.name);
    return runRoleProcess("worker", common, log, (t) => createWorker({ stage, prefetch: int(values, "prefetch") }, t, log));
  },
};
