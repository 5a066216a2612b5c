/**
 * Processes an earlier cluster on the same state dir left running: each stateful process writes
 * its pid into STATE-DIR/<name>/LOCK (src/stateDirLock.ts), so a `coffee up` that finds its
 * namespace consumed can tell its own orphans (a SIGKILLed coffee up whose children were stopped
 * and never saw it go) from another cluster.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { osStateOf } from "./clusterView.ts";

/** A process of this state dir that still runs. */
export interface StateDirOrphan {
  name: string;
  pid: number;
  stopped: boolean;
}

/** The coffee processes named in `stateDir`'s LOCK files that still run (pids reused by other programs left out). */
export function stateDirOrphans(stateDir: string): StateDirOrphan[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const found: StateDirOrphan[] = [];
  for (const name of names) {
    let pid: number;
    let cmdline: string;
    try {
      pid = Number(readFileSync(join(stateDir, name, "LOCK"), "utf8").trim());
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue; // no LOCK, or no such process
    }
    // A pid the kernel has since given to another program is not ours to name.
    if (!cmdline.split("\0").includes("--role")) continue;
    found.push({ name, pid, stopped: osStateOf(pid) === "stopped" });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}
