/**
 * `coffee status`: every process of a local cluster (from <state-dir>/cluster.json) with its
 * health, pid, uptime and role counters, and the current leader monitor — as a table, or JSON.
 */
import { existsSync } from "node:fs";
import { readClusterFile } from "../clusterPlan.ts";
import { join, resolve } from "node:path";
import type { Command } from "../command.ts";
import { DatasetError } from "../errors.ts";
import { pingHealth } from "../health.ts";
import { bool, int, str, type OptionSpec } from "../options.ts";


/** One process's status row. */
export interface ProcessStatus {
  name: string;
  role: string;
  pid: number | null;
  healthy: boolean;
  uptimeS: number | null;
  detail: Record<string, unknown>;
}

/** Ping every process in the cluster file. */
export async function clusterStatus(stateDir: string, timeoutMs: number): Promise<{ processes: ProcessStatus[]; leader: string | null; term: number | null }> {
  const file = join(stateDir, "cluster.json");
  if (!existsSync(file)) throw new DatasetError(`no cluster.json under ${stateDir}: is coffee up running with --state-dir ${stateDir}?`);
  const entries = readClusterFile(file);
  const processes = await Promise.all(entries.map(async (e): Promise<ProcessStatus> => {
    const reply = await pingHealth(e.host ?? "127.0.0.1", e.healthPort, timeoutMs);
    const { role: _r, name: _n, pid: _p, uptimeMs, ...detail } = reply?.status ?? {};
    return { name: e.name, role: e.role, pid: e.pid, healthy: reply !== null, uptimeS: typeof uptimeMs === "number" ? Math.round(uptimeMs / 1000) : null, detail };
  }));
  // The leader is whoever the healthy monitors with the highest term say it is.
  let leader: string | null = null;
  let term: number | null = null;
  for (const p of processes) {
    const t = p.detail.term;
    if (p.role === "monitor" && p.healthy && typeof t === "number" && (term === null || t > term) && typeof p.detail.leader === "string") {
      term = t;
      leader = p.detail.leader;
    }
  }
  return { processes, leader, term };
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
  description: "Shows every process of a local cluster with its health, and the current leader monitor.",
  options: OPTIONS,
  async run(values) {
    const status = await clusterStatus(resolve(str(values, "state-dir")), int(values, "timeout-ms"));
    if (bool(values, "json")) {
      process.stdout.write(JSON.stringify(status, null, 2) + "\n");
    } else {
      const rows = status.processes.map((p) => [p.name, p.role, String(p.pid ?? "-"), p.healthy ? "ok" : "DOWN", p.uptimeS === null ? "-" : `${p.uptimeS}s`,
        Object.entries(p.detail).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}=${String(v)}`).join(" ")]);
      const head = ["NAME", "ROLE", "PID", "HEALTH", "UPTIME", "DETAIL"];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows]) process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ") + "\n");
      process.stdout.write(`leader: ${status.leader ?? "none"}${status.term !== null ? ` (term ${status.term})` : ""}\n`);
    }
    return status.processes.every((p) => p.healthy) ? 0 : 1;
  },
};
