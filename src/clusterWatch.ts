/**
 * The leader monitor's view of cluster.json, read again every health round (coffee up rewrites
 * it as processes restart). A file that is missing or unusable means watching nothing, which
 * must not pass in silence: each new problem is reported once, and so is its end.
 */
import { tryReadClusterFile, type ClusterProcess } from "./clusterPlan.ts";

/** What changed about the file's usability. */
export type ClusterWatchEvent = { type: "unusable"; problem: string } | { type: "usable"; processes: number };

/** Reads one cluster file on demand; reports changes in whether it can be used. */
export class ClusterWatch {
  /** Why the last read gave no processes; null when it was usable (or before the first read). */
  problem: string | null = null;
  private usable = false;

  constructor(private readonly path: string, private readonly report: (e: ClusterWatchEvent) => void) {}

  /** The processes listed now; none while the file cannot be used. */
  read(): ClusterProcess[] {
    const read = tryReadClusterFile(this.path);
    if (read.ok) {
      if (this.problem !== null) this.report({ type: "usable", processes: read.processes.length });
      this.problem = null;
      this.usable = true;
      return read.processes;
    }
    if (read.problem !== this.problem) this.report({ type: "unusable", problem: read.problem });
    this.problem = read.problem;
    this.usable = false;
    return [];
  }

  /** True when the last read found a usable file. */
  get isUsable(): boolean {
    return this.usable;
  }
}
