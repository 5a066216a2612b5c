/**
 * The leader monitor's view of cluster.json, read again every health round (coffee up rewrites
 * it as processes restart). A file that is missing, or entries that cannot be used, mean
 * processes nobody health-checks, which must not pass in silence: each new problem is reported
 * once, and so is its end.
 */
import { tryReadClusterFile, type ClusterProcess } from "./clusterPlan.ts";

/** What changed about the file: a new problem, or none any more. */
export type ClusterWatchEvent = { type: "problem"; problem: string; processes: number } | { type: "fixed"; processes: number };

/** Reads one cluster file on demand; reports changes in what is wrong with it. */
export class ClusterWatch {
  /** What was wrong at the last read; null when nothing was (or before the first read). */
  problem: string | null = null;

  constructor(private readonly path: string, private readonly report: (e: ClusterWatchEvent) => void) {}

  /** The usable processes listed now. */
  read(): ClusterProcess[] {
    const { processes, problem } = tryReadClusterFile(this.path);
    if (problem !== null && problem !== this.problem) this.report({ type: "problem", problem, processes: processes.length });
    if (problem === null && this.problem !== null) this.report({ type: "fixed", processes: processes.length });
    this.problem = problem;
    return processes;
  }

  /** Forget the last problem (a monitor that stops leading stops reading the file). */
  reset(): void {
    this.problem = null;
  }
}
