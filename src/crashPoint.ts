/**
 * Crash points: named steps of the commit protocols where a test can SIGKILL a process at
 * exactly that step, to show that a crash there loses nothing and counts nothing twice (fail
 * points, as etcd's gofail or TiKV's fail-rs). Random kills (test/crash.test.ts,
 * test/chaos.test.ts) land wherever the process happens to be; these land between the two
 * halves of each step that matters: after a publish was confirmed and before the ack, after a
 * record was logged and before it was durable, after a snapshot was named and before the log it
 * replaces was deleted.
 *
 * Off unless COFFEE_CRASH_POINTS_DIR names a folder; then each point looks for a file of its name
 * there (an "armed" point). A file holding a process name (gateway, agg-q1, ...) arms the point
 * for that process only, one holding `*` for any; an empty file arms nothing (one being written:
 * arm by writing elsewhere and renaming). The first process to reach an armed point renames the
 * file to `<point>.fired-by-<name>-<pid>` (a rename succeeds once, so one process fires) and
 * kills itself with SIGKILL: no handler, no flush, as a crash. Its revival sees no armed file.
 * While set, every point costs a stat: timings differ from production's. For role processes
 * (--role, coffee up's children): a role run in-process (coffee up --transport memory) has no
 * name here, and a point armed for any would kill the whole cluster with it.
 */
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";

/** Every crash point, and the step it interrupts. */
export const CRASH_POINTS = {
  "worker.output-confirmed": "a worker: one output of a batch confirmed by the broker, the input batch not yet acked",
  "gateway.batch-confirmed": "the gateway: a client batch confirmed by the broker, its ack not yet sent to the client",
  "gateway.eos-confirmed": "the gateway: an end-of-stream confirmed by the broker, not yet acked to the client",
  "gateway.result-stored": "the gateway: a result chunk added to the log and spool, not yet durable nor acked to the broker",
  "gateway.result-sent": "the gateway: a result chunk written to the client's connection",
  "gateway.done-sent": "the gateway: `done` written to the client, the session not yet closed",
  "gateway.session-durable": "the gateway: a new session's record durable, its welcome (the client's only way to learn its id) not yet sent",
  "gateway.resumed": "the gateway: a resumed session's welcome sent, its stored result chunks not yet sent again",
  "gateway.purge-durable": "the gateway: a purge durable in its log, the purge message to the aggregators not yet published",
  "aggregator.applied": "an aggregator: a batch folded into the state and logged (with a state dir), not yet durable",
  "aggregator.result-chunk-confirmed": "an aggregator: a result chunk confirmed by the broker, later ones not all published yet (when the result is more chunks than the 8 it keeps in flight)",
  "aggregator.result-confirmed": "an aggregator: a whole result confirmed by the broker, the session not yet logged finished",
  "aggregator.finished-durable": "an aggregator: a session's finished record durable, the delivery that completed it not yet acked, the log not yet compacted",
  "aggregator.spilled": "agg-q1: a sorted run of a session's rows written (fsynced only before a snapshot names it), the batch that filled it not yet logged (the run is named in no durable record)",
  "aggregator.recovered": "an aggregator: its state rebuilt from its log at start, not yet compacted nor its complete sessions' results published again",
  "stage.failed-published": "a worker or aggregator: its report that a session fails (a poison message, a result it cannot produce) confirmed by the broker, the message not yet acked",
  "commit.durable": "a gateway or aggregator: a group commit durable (fsynced), what waited on it not yet run (acks to the broker, welcomes)",
  "wal.snapshot-named": "a gateway or aggregator: a snapshot renamed into place and its folder fsynced, the log segments it replaces not yet deleted",
} as const;

/** The name of a crash point. */
export type CrashPointName = keyof typeof CRASH_POINTS;

/** The folder of armed points; read once, so a process that runs without it pays one comparison per point. */
const armedDir = process.env.COFFEE_CRASH_POINTS_DIR || null;

/** The folder crash points are armed from, or null when they are off (a role says so in its log: never set in production). */
export function crashPointsDir(): string | null {
  return armedDir;
}

/** This process's name (--name), for points armed for one process. */
let processName = "";

/** Name this process for crash points armed for one process only. */
export function nameCrashPointProcess(name: string): void {
  processName = name;
}

/** If `point` is armed for this process, SIGKILL it here. */
export function crashPoint(point: CrashPointName): void {
  if (armedDir === null) return;
  const armed = join(armedDir, point);
  if (!existsSync(armed)) return;
  let target: string;
  try {
    target = readFileSync(armed, "utf8").trim();
  } catch {
    return; // another process fired it meanwhile
  }
  if (target === "" || (target !== "*" && target !== processName)) return;
  try {
    renameSync(armed, join(armedDir, `${point}.fired-by-${processName || "unnamed"}-${process.pid}`));
  } catch {
    return; // another process fired it first
  }
  process.kill(process.pid, "SIGKILL");
}
