/**
 * A cluster as its health replies show it: every process of cluster.json pinged, the leader the
 * monitors agree on, and the gateway's open sessions and queue depths. Shared by `coffee status`
 * and the dashboard, so the terminal and the web page show the same facts.
 */
import type { ClusterProcess } from "./clusterPlan.ts";
import { queuesFrom, sessionsFrom, type SessionProgress } from "./gatewayStatus.ts";
import { existsSync, readFileSync } from "node:fs";
import { pingHealth } from "./health.ts";
import type { QueueDepth } from "./transport.ts";

/** One process's status row. */
export interface ProcessStatus {
  name: string;
  role: string;
  pid: number | null;
  healthy: boolean;
  uptimeS: number | null;
  /** Restarts coffee up counted (null where cluster.json does not say, e.g. compose). */
  restarts: number | null;
  /** The rest of its health reply: state, memory, role counters. */
  detail: Record<string, unknown>;
  /**
   * For one that did not answer, on this machine (no host) with a pid: what the kernel says of
   * that pid. "stopped" (SIGSTOP, a debugger), "exited" (no such process, or a zombie), or
   * "silent" (running, yet no answer: busy or hung). Null where it cannot be told.
   */
  osState: "stopped" | "exited" | "silent" | null;
}

/** What /proc says of `pid` (Linux); null elsewhere or when it cannot be read for another reason. */
export function osStateOf(pid: number): ProcessStatus["osState"] {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" && existsSync("/proc/self/stat") ? "exited" : null;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "T" || state === "t" ? "stopped" : state === "Z" || state === "X" ? "exited" : "silent";
}

/**
 * Ping one cluster.json entry where it answers: its host (compose), else this machine. A reply
 * that names another process, or another namespace than the entry's (where both say one), counts
 * as none: the port (or a reused container address) now belongs to someone else, say the
 * same-named process of another cluster on this machine, and the entry's own process is not the
 * one alive there. Not the pid: cluster.json may lag behind a restart (its write failed), and a
 * healthy successor would be taken for dead.
 */
export async function pingEntry(e: ClusterProcess, timeoutMs: number): ReturnType<typeof pingHealth> {
  const reply = await pingHealth(e.host ?? "127.0.0.1", e.healthPort, timeoutMs);
  if (reply === null) return null;
  const { name, namespace } = reply.status;
  if (typeof name === "string" && name !== e.name) return null;
  if (typeof namespace === "string" && typeof e.namespace === "string" && namespace !== e.namespace) return null;
  return reply;
}

/** Ping every process of a cluster file (in parallel); one that does not answer in time is unhealthy. */
export async function pingProcesses(entries: readonly ClusterProcess[], timeoutMs: number): Promise<ProcessStatus[]> {
  return Promise.all(entries.map(async (e): Promise<ProcessStatus> => {
    const reply = await pingEntry(e, timeoutMs);
    const { role: _r, name: _n, pid, uptimeMs, ...detail } = reply?.status ?? {};
    return {
      name: e.name, role: e.role,
      // The reply knows the pid where cluster.json does not (compose writes none).
      pid: e.pid ?? (typeof pid === "number" ? pid : null),
      healthy: reply !== null,
      uptimeS: typeof uptimeMs === "number" ? Math.round(uptimeMs / 1000) : null,
      restarts: typeof e.restarts === "number" ? e.restarts : null,
      detail,
      osState: reply === null && e.host === undefined && typeof e.pid === "number" ? osStateOf(e.pid) : null,
    };
  }));
}

/** The leader as the healthy monitors with the highest term report it. */
export function leaderOf(processes: readonly ProcessStatus[]): { leader: string | null; term: number | null } {
  let leader: string | null = null;
  let term: number | null = null;
  for (const p of processes) {
    const t = p.detail.term;
    if (p.role === "monitor" && p.healthy && typeof t === "number" && (term === null || t > term) && typeof p.detail.leader === "string") {
      term = t;
      leader = p.detail.leader === "" ? null : p.detail.leader;
    }
  }
  return { leader, term };
}

/** Open sessions and queue depths from the (first healthy) gateway's reply. */
export interface GatewayView {
  /** Sessions open at the gateway (the list may be capped; this is the full count). */
  open: number;
  sessions: SessionProgress[];
  /** Null when no gateway answers or it cannot reach the broker. */
  queues: QueueDepth[] | null;
  /** Rows the gateway received since it started; null when no gateway answers. */
  rowsIn: number | null;
}

/** What the gateway reports about sessions and queues. */
export function gatewayView(processes: readonly ProcessStatus[]): GatewayView {
  const gw = processes.find((p) => p.role === "gateway" && p.healthy);
  if (!gw) return { open: 0, sessions: [], queues: null, rowsIn: null };
  const sessions = sessionsFrom(gw.detail);
  const open = typeof gw.detail.sessions === "number" ? gw.detail.sessions : sessions.length;
  return { open, sessions, queues: queuesFrom(gw.detail), rowsIn: typeof gw.detail.rowsIn === "number" ? gw.detail.rowsIn : null };
}

/** A role's link to its broker, as its health reply says it. */
export type BrokerLink = "connecting" | "reconnecting" | "blocked" | "connected" | "none";

/**
 * A role's link to its broker from its health reply (src/roleRuntime.ts): the `broker` field once
 * it has a transport; `starting` without one is still opening its first connection; "none" for
 * what has no broker (a monitor, a role on the in-memory transport).
 */
export function brokerLinkOf(status: Record<string, unknown>): BrokerLink {
  const broker = status.broker;
  if (broker === "reconnecting" || broker === "blocked" || broker === "connected") return broker;
  return status.state === "starting" ? "connecting" : "none";
}
