/**
 * Processes' state folders deleted whole or not at all (`coffee up --delete-on-exit`): each is
 * first renamed aside, one atomic step made durable with its directory, then removed. A removal
 * cut short (a SIGKILL, a power cut) leaves a renamed folder no process reads, which the next
 * `coffee up` removes, instead of a write-ahead log missing some of its files, which its process
 * would refuse for good (WAL_CORRUPT).
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDirectory } from "./durableFs.ts";

/** What a folder set aside for removal is renamed with. */
const RETIRED_SUFFIX = ".deleting";

/** Remove the folders `names` of `stateDir` (those that exist), each whole or not at all. */
export function retireStateDirs(stateDir: string, names: readonly string[]): void {
  const aside = names.filter((n) => existsSync(join(stateDir, n))).map((n) => {
    const to = join(stateDir, `${n}${RETIRED_SUFFIX}`);
    // One left by an earlier removal cut short goes first: rename does not replace a folder.
    rmSync(to, { recursive: true, force: true });
    renameSync(join(stateDir, n), to);
    return to;
  });
  if (aside.length === 0) return;
  fsyncDirectory(stateDir);
  for (const dir of aside) rmSync(dir, { recursive: true, force: true });
}

/**
 * Remove what a removal of the folders `names` cut short left set aside in `stateDir`; returns
 * what it removed. Only those names: anything else in the directory is not ours to delete.
 */
export function removeRetiredLeftovers(stateDir: string, names: readonly string[]): string[] {
  const left = names.map((n) => `${n}${RETIRED_SUFFIX}`).filter((n) => existsSync(join(stateDir, n)));
  for (const n of left) rmSync(join(stateDir, n), { recursive: true, force: true });
  return left;
}
