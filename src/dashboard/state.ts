/**
 * What the dashboard shows, sampled once a second by the monitor that serves it: every process
 * of the cluster file pinged (health, uptime, memory, restarts), this monitor's view of the
 * election, the gateway's sessions and queue depths, and the gateway's ingest rate over the last
 * minutes. Browsers read the latest sample, so any number of open pages cost no extra pings.
 */
import { readClusterFile } from "../clusterPlan.ts";
import { gatewayView, pingProcesses, type ProcessStatus } from "../clusterView.ts";
import type { SessionProgress } from "../gatewayStatus.ts";
import { ENTITIES, QUERIES } from "../schema.ts";
import type { QueueDepth } from "../transport.ts";
import { RateHistory } from "./history.ts";

/** The serving monitor's view of the election. */
export interface ElectionView {
  /** Name of the leading monitor; null while an election is under way. */
  leader: string | null;
  term: number;
  /** This monitor's own state (leader, follower, candidate, ...). */
  state: string;
}

/** One row of the processes table. */
export type ProcessRow = {
  name: string;
  role: string;
  pid: number | null;
  healthy: boolean;
  /** The process's own word: starting, running; a monitor says leader or follower. */
  state: string | null;
  uptimeS: number | null;
  rssMb: number | null;
  heapMb: number | null;
  restarts: number | null;
  /** A short summary of its role counters. */
  info: string;
};

/** Everything GET /api/state returns. */
export type DashboardState = {
  /** When the sample was taken (epoch ms). */
  at: number;
  servedBy: string;
  election: ElectionView;
  processes: ProcessRow[];
  /** Sessions open at the gateway; `sessions` lists at most the gateway's cap of them. */
  openSessions: number;
  sessions: SessionProgress[];
  /** Null when the gateway does not answer or cannot reach the broker. */
  queues: QueueDepth[] | null;
  /** Gateway rows per second, oldest first (null: no sample); the window holds `windowPoints`. */
  throughput: { intervalMs: number; windowPoints: number; rowsPerS: (number | null)[]; rowsTotal: number | null };
  /** Column order of the sessions table. */
  entities: readonly string[];
  queries: readonly string[];
};

const n = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const count = (k: number | null, one: string, many = `${one}s`): string => `${(k ?? 0).toLocaleString("en-US")} ${k === 1 ? one : many}`;

/** A short, role-specific summary of a process's counters. */
export function processInfo(p: ProcessStatus): string {
  const d = p.detail;
  const parts: string[] = [];
  if (p.role === "gateway") parts.push(`${count(n(d.sessions), "session")} open`, `${count(n(d.rowsIn), "row")} in`, `${count(n(d.sessionsFinished), "session")} finished`);
  else if (p.role === "worker") parts.push(String(d.unit ?? ""), count(n(d.batches), "batch", "batches"));
  else if (p.role === "aggregator") parts.push(String(d.query ?? ""), count(n(d.sessions), "session"), count(n(d.batches), "batch", "batches"));
  else if (p.role === "monitor") {
    if (n(d.term) !== null) parts.push(`term ${n(d.term)}`);
    if (n(d.down)) parts.push(`${n(d.down)} down`);
    if (n(d.revivals)) parts.push(count(n(d.revivals), "revival"));
  }
  if (d.broker === "reconnecting") parts.push("broker reconnecting");
  if (d.broker === "blocked") parts.push("broker blocks publishing (a resource alarm)");
  return parts.filter((s) => s !== "").join(" · ");
}

/** The dashboard's view of a set of pinged processes. */
export function buildState(opts: { at: number; servedBy: string; election: ElectionView; processes: readonly ProcessStatus[]; history: RateHistory; intervalMs: number }): DashboardState {
  const gw = gatewayView(opts.processes);
  return {
    at: opts.at,
    servedBy: opts.servedBy,
    election: opts.election,
    processes: opts.processes.map((p) => ({
      name: p.name, role: p.role, pid: p.pid, healthy: p.healthy,
      state: typeof p.detail.state === "string" ? p.detail.state : null,
      uptimeS: p.uptimeS, rssMb: n(p.detail.rssMb), heapMb: n(p.detail.heapMb), restarts: p.restarts, info: processInfo(p),
    })),
    openSessions: gw.open,
    sessions: gw.sessions,
    queues: gw.queues,
    throughput: { intervalMs: opts.intervalMs, windowPoints: opts.history.capacity, rowsPerS: opts.history.series(), rowsTotal: gw.rowsIn },
    entities: ENTITIES,
    queries: QUERIES,
  };
}

/** Options of the sampler. */
export interface SamplerOptions {
  clusterFile: string;
  /** Name of the monitor serving the dashboard. */
  servedBy: string;
  election: () => ElectionView;
  /** Wait for each health reply. */
  timeoutMs: number;
  /** Time between samples (and between throughput points). */
  intervalMs: number;
  /** Throughput points kept (window = points × interval). */
  historyPoints: number;
}

/** A running sampler. */
export interface Sampler {
  /** The latest sample. */
  state(): DashboardState;
  stop(): void;
}

/** Take a first sample, then one every `intervalMs` (a slow round is skipped, not stacked). */
export async function startSampler(opts: SamplerOptions): Promise<Sampler> {
  const history = new RateHistory(opts.historyPoints);
  const sample = async (): Promise<DashboardState> => {
    const processes = await pingProcesses(readClusterFile(opts.clusterFile), opts.timeoutMs);
    const at = Date.now();
    history.add(at, gatewayView(processes).rowsIn);
    return buildState({ at, servedBy: opts.servedBy, election: opts.election(), processes, history, intervalMs: opts.intervalMs });
  };
  let latest = await sample();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    // sample() does not reject: pings resolve null and a missing cluster file reads as empty.
    void sample().then((s) => { latest = s; }).finally(() => { busy = false; });
  }, opts.intervalMs);
  return { state: () => ({ ...latest, election: opts.election() }), stop: () => clearInterval(timer) };
}
