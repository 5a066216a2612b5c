/**
 * `coffee status`: every process of a local cluster (from <state-dir>/cluster.json) with its
 * health, pid, uptime, restarts and role counters, the current leader monitor, the gateway's open
 * sessions with their progress and the queue depths — as tables, or JSON.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { readClusterFile, type ClusterProcess } from "../clusterPlan.ts";
import { childLastError } from "../childRefusal.ts";
import { brokerLinkOf, gatewayView, leaderOf, pingProcesses, type ProcessStatus } from "../clusterView.ts";
import type { Command } from "../command.ts";
import { ConfigError } from "../errors.ts";
import { backlogHoldFrom, type SessionProgress } from "../gatewayStatus.ts";
import { bool, int, str, type OptionSpec } from "../options.ts";
import { processRuns } from "../parentWatch.ts";
import { ENTITIES, QUERIES } from "../schema.ts";
import { setAsideFolders, type SetAsideFolder } from "../stateSetAside.ts";
import { chainByName, PROBE_QUEUE } from "../topology.ts";
import type { QueueDepth } from "../transport.ts";

export type { ProcessStatus } from "../clusterView.ts";

/** Everything `coffee status` reports (also its --json output). */
export interface ClusterStatus {
  processes: ProcessStatus[];
  leader: string | null;
  term: number | null;
  /** Sessions open at the gateway; `sessions` lists at most the gateway's cap of them. */
  openSessions: number;
  sessions: SessionProgress[];
  /** Ready messages per queue; null when the gateway does not answer or cannot reach the broker. */
  queues: QueueDepth[] | null;
  /**
   * Queues of stages that a chain runs inside its own process (--deploy fused), each with that
   * chain: nothing is published to them then, and the chain's workers read them only for what a
   * --deploy split cluster left there.
   */
  fusedQueues: Record<string, string>;
  /** Damaged state a process moved aside (src/stateSetAside.ts), kept until someone deletes it. */
  setAside: SetAsideFolder[];
  /** For each process that does not answer: the last error line of its log under the state dir, where there is one. */
  lastErrors: Record<string, string>;
}

/** Ping every process in the cluster file. */
export async function clusterStatus(stateDir: string, timeoutMs: number): Promise<ClusterStatus> {
  const file = join(stateDir, "cluster.json");
  if (!existsSync(file)) throw new ConfigError(`no cluster.json under ${stateDir}: is coffee up running with --state-dir ${stateDir}?`);
  const entries = readClusterFile(file);
  const processes = await pingProcesses(entries, timeoutMs);
  const gw = gatewayView(processes);
  return { processes, ...leaderOf(processes), openSessions: gw.open, sessions: gw.sessions, queues: gw.queues, fusedQueues: fusedQueues(entries), setAside: setAsideFolders(stateDir), lastErrors: lastErrorsOf(stateDir, processes) };
}

/** The last error in the log of each process that does not answer (coffee up's logs: STATE-DIR/logs/<name>.log). */
function lastErrorsOf(stateDir: string, processes: readonly ProcessStatus[]): Record<string, string> {
  const found: Record<string, string> = {};
  for (const p of processes) {
    if (p.healthy) continue;
    const error = childLastError(join(stateDir, "logs", `${p.name}.log`));
    if (error !== null) found[p.name] = error;
  }
  return found;
}

/**
 * One line on the broker when any process lacks it: health says alive, and a cluster whose every
 * process answers while none reaches the broker moves nothing (an operator reading only HEALTH
 * would look elsewhere). A role still starting is waiting for its first connection.
 */
function brokerLine(processes: readonly ProcessStatus[]): string {
  const roles = processes.filter((p) => p.healthy && p.role !== "monitor");
  // One still starting with its broker connected is replaying its log: it has its broker.
  const without = roles.filter((p) => ["connecting", "reconnecting"].includes(brokerLinkOf(p.detail)));
  const blocked = roles.filter((p) => brokerLinkOf(p.detail) === "blocked");
  const names = (ps: readonly ProcessStatus[]): string => ps.slice(0, 4).map((p) => p.name).join(", ") + (ps.length > 4 ? ", ..." : "");
  let out = "";
  if (without.length > 0) out += `broker: ${without.length} of ${roles.length} answering processes have no connection to it (${names(without)}): down or unreachable? They connect again on their own, and lose nothing meanwhile\n`;
  if (blocked.length > 0) out += `broker: it takes no publishes from ${blocked.length} of ${roles.length} answering processes (${names(blocked)}): a memory or disk alarm (rabbitmqctl status)? They wait, and lose nothing\n`;
  return out;
}

/** The processes the leader gave up reviving (a former leader's word no longer holds: the leader has fresh budgets). */
function revivalLines(processes: readonly ProcessStatus[], leader: string | null): string {
  const m = processes.find((p) => p.name === leader && p.healthy);
  if (!m || !Array.isArray(m.detail.gaveUp)) return "";
  const healthy = new Set(processes.filter((p) => p.healthy).map((p) => p.name));
  let out = "";
  for (const g of m.detail.gaveUp as unknown[]) {
    const { process, attempts, sinceS } = (typeof g === "object" && g !== null ? g : {}) as Record<string, unknown>;
    // Back since (started by hand, say): nothing to say.
    if (typeof process !== "string" || healthy.has(process)) continue;
    out += `revival: ${m.name} gave up on ${process} after ${String(attempts)} attempts, the last ${String(sinceS)} s ago; it tries again with a fresh budget a minute or more after its last attempt (meanwhile, fix what the process's log says)\n`;
  }
  return out;
}

/**
 * Why uploads are held. The gate counts the deepest queue's ready messages at its last poll plus
 * what it published since (confirmed after that poll began, or not yet): a queue polled at 0 can
 * hold uploads, so the line says both, and the level at which reading resumes.
 */
function holdLine(hold: NonNullable<ReturnType<typeof backlogHoldFrom>>): string {
  if (hold.unpolled === undefined || hold.bound === undefined) return `uploads held: ${hold.queue} has ${hold.messages} messages ready, past the gateway's --max-backlog; uploads are read again once every pipeline queue is down to half of it\n`;
  // Held since the count passed the bound; it may be under it now, on its way down to half.
  return `uploads held: the pipeline's backlog passed the gateway's --max-backlog ${hold.bound} and counts ${hold.messages + hold.unpolled} now (${hold.queue}: ${hold.messages} ready at the last poll, plus ${hold.unpolled} published since); uploads are read again once it is down to ${Math.floor(hold.bound / 2)}\n`;
}

/** The queues of stages that fused chains run past their head (see ClusterStatus.fusedQueues). */
function fusedQueues(entries: readonly ClusterProcess[]): Record<string, string> {
  const fused: Record<string, string> = {};
  for (const e of entries) {
    const chain = e.chain === undefined ? undefined : chainByName(e.chain);
    for (const stage of chain?.stages.slice(1) ?? []) fused[stage] = chain!.name;
  }
  return fused;
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
function table(head: readonly string[], rows: readonly string[][], indent = ""): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [head, ...rows].map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

/** The status as the terminal tables. */
export function renderStatus(status: ClusterStatus): string {
  const procRows = status.processes.map((p) => [p.name, p.role, String(p.pid ?? "-"), p.healthy ? "ok" : p.osState ? `DOWN (${p.osState})` : "DOWN", p.uptimeS === null ? "-" : `${p.uptimeS}s`, p.restarts === null ? "-" : String(p.restarts),
    Object.entries(p.detail).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}=${String(v)}`).join(" ")]);
  let out = table(["NAME", "ROLE", "PID", "HEALTH", "UPTIME", "RESTARTS", "DETAIL"], procRows);
  for (const [name, error] of Object.entries(status.lastErrors)) out += `${name}: the last error in its log: ${error}\n`;
  out += brokerLine(status.processes);
  out += `leader: ${status.leader ?? "none"}${status.term !== null ? ` (term ${status.term})` : ""}\n`;
  out += revivalLines(status.processes, status.leader);
  if (status.sessions.length === 0) out += `sessions: ${status.openSessions > 0 ? `${status.openSessions} open, none listed` : "none open"}\n`;
  else {
    out += `sessions: ${status.openSessions} open (AGE: since the gateway took it on; STILL: since it last moved; rows acknowledged per entity, + = end-of-stream confirmed; result chunks stored/delivered, + = complete)\n`;
    const seconds = (v: number | undefined): string => (v === undefined ? "-" : `${v}s`);
    const rows = status.sessions.map((s) => [s.recovered ? `${s.id}*` : s.id, s.connected ? "connected" : "away", seconds(s.ageS), seconds(s.stillS),
      ...ENTITIES.map((e) => `${s.rows[e]}${s.eos.includes(e) ? "+" : ""}`),
      ...QUERIES.map((q) => `${s.results[q].stored}/${s.results[q].delivered}${s.results[q].complete ? "+" : ""}`)]);
    out += table(["SESSION", "CLIENT", "AGE", "STILL", ...ENTITIES.map((e) => e.toUpperCase()), ...QUERIES.map((q) => q.toUpperCase())], rows, "  ");
    // Rows and age are the gateway's own counts, not in its log: a restart starts them again.
    if (status.sessions.some((s) => s.recovered)) out += "  * recovered from the gateway's log at its last start: AGE and rows count from then\n";
  }
  if (status.queues === null) out += "queues: unknown (the gateway does not answer or cannot reach the broker)\n";
  else {
    out += `queues: ${status.queues.reduce((n, q) => n + q.messages, 0)} messages ready\n`;
    const consumers = (q: QueueDepth): string => {
      if (q.queue === PROBE_QUEUE) return `${q.consumers} (the gateway's broker probe: keeps nothing, needs none)`;
      const chain = status.fusedQueues[q.queue];
      if (q.consumers > 0 && chain !== undefined) return `${q.consumers} (fused into ${chain}: drains what a split deployment left)`;
      // Messages waiting with nobody to take them: whatever reads this queue is down.
      return q.consumers === 0 && q.messages > 0 ? "0 (nobody reads it: its process is down, or stopped consuming: see its log)" : String(q.consumers);
    };
    out += table(["QUEUE", "MESSAGES", "CONSUMERS"], status.queues.map((q) => [q.queue, String(q.messages), consumers(q)]), "  ");
  }
  const gateway = status.processes.find((p) => p.role === "gateway" && p.healthy);
  const hold = gateway ? backlogHoldFrom(gateway.detail) : null;
  if (hold) out += holdLine(hold);
  if (status.setAside.length > 0) {
    out += `set aside: ${status.setAside.length} folder(s) of damaged state, kept for a look (README, Troubleshooting); delete each once done\n`;
    out += status.setAside.map((f) => `  ${f.folder} (${(f.bytes / 1_048_576).toFixed(1)} MB)\n`).join("");
  }
  return out;
}

const OPTIONS: readonly OptionSpec[] = [
  { name: "state-dir", type: "string", env: "COFFEE_STATE_DIR", default: "./state", help: "the state directory of the coffee up cluster" },
  { name: "json", type: "bool", default: false, help: "print JSON instead of a table" },
  { name: "timeout-ms", type: "int", default: 500, min: 10, max: 60_000, help: "wait for each health reply" },
];

/** `coffee status`. */
export const statusCommand: Command = {
  name: "status",
  usage: "coffee status [--state-dir DIR] [--json]",
  description: "Shows every process of a local cluster with its health, the current leader monitor, open sessions and queue depths. Exits 0 when every process answers, 1 when any does not.",
  options: OPTIONS,
  async run(values) {
    const stateDir = resolve(str(values, "state-dir"));
    const status = await clusterStatus(stateDir, int(values, "timeout-ms"));
    process.stdout.write(bool(values, "json") ? JSON.stringify(status, null, 2) + "\n" : renderStatus(status));
    // Every process DOWN is most often a cluster that is not running: cluster.json outlives it.
    // A process still alive under a listed pid says otherwise: then none replied in time.
    if (status.processes.length > 0 && status.processes.every((p) => !p.healthy)) {
      const alive = status.processes.filter((p) => p.pid !== null && processRuns(p.pid)).length;
      process.stderr.write(alive > 0
        ? `coffee status: no process answered within --timeout-ms ${int(values, "timeout-ms")}, though ${alive} of them still ${alive === 1 ? "runs" : "run"}\n`
        : `coffee status: no process answers and none of its pids runs: coffee up is not running with --state-dir ${stateDir} (cluster.json is from its last run)\n`);
    }
    return status.processes.every((p) => p.healthy) ? 0 : 1;
  },
};
