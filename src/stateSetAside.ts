/**
 * A state directory whose write-ahead log cannot be recovered (WAL_CORRUPT) is set aside, not
 * deleted: its files move into `<dir>/corrupt-<time>/`, where they can be examined, and the
 * process starts again on an empty log. What they held is lost to the pipeline either way; kept
 * in place, they would stop the process at every revival while its sessions wait.
 */
import { mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { fsyncDirectory } from "./atomicFile.ts";
import { errorMessage, WalError } from "./errors.ts";

/** Prefix of a set-aside folder; entries with it stay where they are when another one is made. */
export const SET_ASIDE_PREFIX = "corrupt-";

/** The state directory's lock (src/stateDirLock.ts): held by this very process, it stays. */
const KEPT = new Set(["LOCK"]);

/**
 * Move every entry of `dir` but its LOCK and earlier set-aside folders into a new
 * `corrupt-<UTC time>` folder inside it, durably (both directories fsynced); returns that
 * folder's path. WAL_IO_FAILED if any step fails: what was moved stays moved, and the next start
 * finds the log corrupt again and moves the rest.
 */
export function setAsideState(dir: string, now: Date = new Date()): string {
  const base = join(dir, `${SET_ASIDE_PREFIX}${now.toISOString().replace(/[:.]/g, "-")}`);
  try {
    let aside = base;
    for (let n = 2; ; n++) {
      try {
        mkdirSync(aside);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        aside = `${base}-${n}`;
      }
    }
    for (const name of readdirSync(dir)) {
      if (KEPT.has(name) || name.startsWith(SET_ASIDE_PREFIX)) continue;
      renameSync(join(dir, name), join(aside, name));
    }
    fsyncDirectory(aside);
    fsyncDirectory(dir);
    return aside;
  } catch (err) {
    throw new WalError("WAL_IO_FAILED", `cannot set the state in ${dir} aside: ${errorMessage(err)}`);
  }
}
