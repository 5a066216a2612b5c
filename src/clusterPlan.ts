/** The processes of a local cluster, rendered from the topology, and their cluster.json entries. */
import { readFileSync } from "node:fs";
import { errorMessage } from "./errors.ts";
import { AGGREGATORS, CHAINS, STAGES } from "./topology.ts";

/** One entry of cluster.json (README "coffee up"). */
export interface ClusterProcess {
  name: string;
  role: "gateway" | "worker" | "aggregator" | "monitor";
  pid: number | null;
  /** False while a child is down and waiting to be restarted. */
  alive: boolean;
  healthPort: number;
  /** HTTP port of its Prometheus /metrics endpoint (at `host`); absent when it serves none. */
  metricsPort?: number;
  /** Where the health port answers (a compose service name); absent means this machine. */
  host?: string;
  stage?: string;
  chain?: string;
  query?: string;
  inProcess?: boolean;
  /** Times coffee up started it again (its own restarts and monitors' revivals); absent elsewhere. */
  restarts?: number;
  /**
   * The namespace its cluster runs in (coffee up writes it): a health reply naming another is a
   * process of another cluster on that port. Absent: not checked.
   */
  namespace?: string;
}

/** cluster.json as read: the usable entries, and what is wrong with the rest or the file (null: nothing). */
export interface ClusterFileRead {
  processes: ClusterProcess[];
  problem: string | null;
}

const ROLES: readonly string[] = ["gateway", "worker", "aggregator", "monitor"];

/** Why `entry` is not a usable cluster.json entry, or null when it is. */
function entryProblem(entry: unknown): string | null {
  if (typeof entry !== "object" || entry === null) return "not an object";
  const e = entry as Record<string, unknown>;
  if (typeof e.name !== "string" || e.name === "") return "no name";
  if (typeof e.role !== "string" || !ROLES.includes(e.role)) return `${e.name}: role must be one of ${ROLES.join(", ")}`;
  if (!Number.isInteger(e.healthPort) || (e.healthPort as number) < 0 || (e.healthPort as number) > 65535) return `${e.name}: healthPort must be a port number`;
  return null;
}

/**
 * Read and check cluster.json: a JSON array of entries, each with a name, a role and a health
 * port. An unusable entry is left out (and named in `problem`); the others still count.
 */
export function tryReadClusterFile(path: string): ClusterFileRead {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return { processes: [], problem: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { processes: [], problem: `${path} is not JSON (${errorMessage(err)})` };
  }
  if (!Array.isArray(parsed)) return { processes: [], problem: `${path} must hold a JSON array of processes` };
  const processes: ClusterProcess[] = [];
  const bad: string[] = [];
  for (const [i, entry] of parsed.entries()) {
    const problem = entryProblem(entry);
    if (problem) bad.push(`entry ${i}: ${problem}`);
    else processes.push(entry as ClusterProcess);
  }
  return { processes, problem: bad.length === 0 ? null : `${path}: ${bad.length} entr${bad.length === 1 ? "y" : "ies"} left out (${bad.slice(0, 3).join("; ")}${bad.length > 3 ? "; ..." : ""})` };
}

/** Read cluster.json for a display: its usable entries; none when the file cannot be read. */
export function readClusterFile(path: string): ClusterProcess[] {
  return tryReadClusterFile(path).processes;
}

/** One process to run: name, role, role-specific arguments. */
export interface PlannedProcess {
  name: string;
  role: ClusterProcess["role"];
  args: string[];
  stage?: string;
  chain?: string;
  query?: string;
}

/**
 * How stateless stages are deployed: fused (each chain of the topology in one process, the
 * default: fewer broker hops) or split (one process per stage, each scaled on its own).
 */
export const DEPLOY_MODES = ["fused", "split"] as const;
/** One of DEPLOY_MODES. */
export type DeployMode = (typeof DEPLOY_MODES)[number];

/**
 * The worker processes: per stage when split; per chain when fused, with as many replicas as
 * the most replicated of its stages (a fused chain scales as a whole).
 */
export function planWorkers(replicas: ReadonlyMap<string, number>, deploy: DeployMode): PlannedProcess[] {
  const count = (stage: string): number => replicas.get(stage) ?? STAGES.find((s) => s.name === stage)?.replicas ?? 1;
  const out: PlannedProcess[] = [];
  if (deploy === "split") {
    for (const s of STAGES) for (let i = 1; i <= count(s.name); i++) out.push({ name: `${s.name}-${i}`, role: "worker", args: ["--stage", s.name], stage: s.name });
    return out;
  }
  for (const c of CHAINS) {
    const n = Math.max(...c.stages.map(count));
    for (let i = 1; i <= n; i++) out.push({ name: `${c.name}-chain-${i}`, role: "worker", args: ["--chain", c.name], chain: c.name });
  }
  return out;
}

/** The processes of a cluster, derived from the topology and replica counts. */
export function planCluster(replicas: ReadonlyMap<string, number>, monitors: number, deploy: DeployMode = "fused"): PlannedProcess[] {
  const plan: PlannedProcess[] = [{ name: "gateway", role: "gateway", args: [] }, ...planWorkers(replicas, deploy)];
  for (const a of AGGREGATORS) plan.push({ name: a.queue, role: "aggregator", args: ["--query", a.query], query: a.query });
  for (let i = 1; i <= monitors; i++) plan.push({ name: `monitor-${i}`, role: "monitor", args: [] });
  return plan;
}

