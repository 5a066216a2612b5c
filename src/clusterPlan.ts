/** The processes of a local cluster, rendered from the topology, and their cluster.json entries. */
import { readFileSync } from "node:fs";
import { AGGREGATORS, STAGES } from "./topology.ts";

/** One entry of cluster.json (contract §1). */
export interface ClusterProcess {
  name: string;
  role: "gateway" | "worker" | "aggregator" | "monitor";
  pid: number | null;
  /** False while a child is down and waiting to be restarted. */
  alive: boolean;
  healthPort: number;
  /** Where the health port answers (a compose service name); absent means this machine. */
  host?: string;
  stage?: string;
  query?: string;
  inProcess?: boolean;
}

/** Read cluster.json; a missing or half-written file reads as no processes. */
export function readClusterFile(path: string): ClusterProcess[] {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return Array.isArray(parsed) ? (parsed as ClusterProcess[]) : [];
  } catch {
    return [];
  }
}

/** One process to run: name, role, role-specific arguments. */
export interface PlannedProcess {
  name: string;
  role: ClusterProcess["role"];
  args: string[];
  stage?: string;
  query?: string;
}

/** The processes of a cluster, derived from the topology and replica counts. */
export function planCluster(replicas: ReadonlyMap<string, number>, monitors: number): PlannedProcess[] {
  const plan: PlannedProcess[] = [{ name: "gateway", role: "gateway", args: [] }];
  for (const s of STAGES) {
    for (let i = 1; i <= (replicas.get(s.name) ?? s.replicas); i++) plan.push({ name: `${s.name}-${i}`, role: "worker", args: ["--stage", s.name], stage: s.name });
  }
  for (const a of AGGREGATORS) plan.push({ name: a.queue, role: "aggregator", args: ["--query", a.query], query: a.query });
  for (let i = 1; i <= monitors; i++) plan.push({ name: `monitor-${i}`, role: "monitor", args: [] });
  return plan;
}

