/**
 * A state directory whose write-ahead log cannot be recovered (WAL_CORRUPT) is set aside, not
 * deleted: its files move into `<dir>/corrupt-<time>/`, where they can be examined, and the
 * process starts again on an empty log. What they held is lost to the pipeline either way; kept
 * in place, they would stop the process at every revival while its sessions wait.
 *
 * The move is one rename per file, and a crash can cut it short, leaving (after a power cut, any
 * subset of the renames durable) an older snapshot and segments that recover without error: state
 * that is stale, not corrupt. So a marker naming the folder is made durable before the first
 * rename and removed after the last, and a start that finds it finishes the move first.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "./atomicFile.ts";
import { fsyncDirectory } from "./durableFs.ts";
import { errorMessage, WalError } from "./errors.ts";

/** Prefix of a set-aside folder; entries with it stay where they are when another one is made. */
export const SET_ASIDE_PREFIX = "corrupt-";

/** A set-aside under way: holds the name of the folder the files are moving to. */
export const SET_ASIDE_MARKER = "SETTING-ASIDE";

/** Never moved: the state directory's lock (src/stateDirLock.ts), held by this very process, and the marker. */
const KEPT = new Set(["LOCK", SET_ASIDE_MARKER]);

/**
 * Move every entry of `dir` but its LOCK and earlier set-aside folders into a new
 * `corrupt-<UTC time>` folder inside it, durably; returns that folder's path. WAL_IO_FAILED if
 * any step fails: the marker stays, and the next start finishes the move (`finishSetAside`).
 */
export function setAsideState(dir: string, now: Date = new Date()): string {
  return guarded(dir, () => {
    const base = `${SET_ASIDE_PREFIX}${now.toISOString().replace(/[:.]/g, "-")}`;
    let name = base;
    for (let n = 2; existsSync(join(dir, name)); n++) name = `${base}-${n}`;
    // The marker first: no folder exists that a start could take for a finished set-aside.
    writeFileDurably(join(dir, SET_ASIDE_MARKER), name);
    return moveAll(dir, name);
  });
}

/**
 * Finish a set-aside a crash cut short: move what is left into the folder the marker names, then
 * remove the marker; returns that folder's path, or null when no set-aside was under way.
 */
export function finishSetAside(dir: string): string | null {
  let name: string;
  try {
    name = readFileSync(join(dir, SET_ASIDE_MARKER), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new WalError("WAL_IO_FAILED", `cannot read ${join(dir, SET_ASIDE_MARKER)}: ${errorMessage(err)}`);
  }
  if (!name.startsWith(SET_ASIDE_PREFIX) || name.includes("/")) throw new WalError("WAL_CORRUPT", `${join(dir, SET_ASIDE_MARKER)} names ${JSON.stringify(name)}, not a ${SET_ASIDE_PREFIX}* folder`);
  return guarded(dir, () => moveAll(dir, name));
}

/** Make `dir/name`, move every entry but the kept ones and set-aside folders into it, make that durable, then remove the marker. */
function moveAll(dir: string, name: string): string {
  const aside = join(dir, name);
  mkdirSync(aside, { recursive: true });
  for (const entry of readdirSync(dir)) {
    if (KEPT.has(entry) || entry.startsWith(SET_ASIDE_PREFIX)) continue;
    renameSync(join(dir, entry), join(aside, entry));
  }
  fsyncDirectory(aside);
  fsyncDirectory(dir);
  unlinkSync(join(dir, SET_ASIDE_MARKER));
  fsyncDirectory(dir);
  return aside;
}

/** Run a set-aside step; a failure other than a WalError becomes WAL_IO_FAILED naming `dir`. */
function guarded(dir: string, step: () => string): string {
  try {
    return step();
  } catch (err) {
    throw err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `cannot set the state in ${dir} aside: ${errorMessage(err)}`);
  }
}

/** A set-aside folder under a cluster's state directory, for `coffee status`. */
export interface SetAsideFolder {
  /** The process whose state it was (its folder's name, e.g. agg-q3). */
  process: string;
  /** Its path relative to the state directory. */
  folder: string;
  bytes: number;
}

/** Every `<stateDir>/<process>/corrupt-*` folder, with the bytes it holds; none when the directory cannot be read. */
export function setAsideFolders(stateDir: string): SetAsideFolder[] {
  const found: SetAsideFolder[] = [];
  for (const process of entries(stateDir)) {
    for (const name of entries(join(stateDir, process))) {
      if (!name.startsWith(SET_ASIDE_PREFIX)) continue;
      found.push({ process, folder: join(process, name), bytes: bytesUnder(join(stateDir, process, name)) });
    }
  }
  return found;
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Bytes of the files below `path` (symbolic links not followed). */
function bytesUnder(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  return st.isDirectory() ? entries(path).reduce((n, e) => n + bytesUnder(join(path, e)), 0) : st.size;
}
