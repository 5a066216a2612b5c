/**
 * Folders left in --out by a client that was killed (SIGKILL, a lost machine) before its session
 * ended: session_<id>/ holding only `queryN.csv.part` files nobody will finish, since a client
 * never resumes another run's session. A client removes them when it starts, so they do not pile
 * up beside real results. A folder counts as left behind only when its lock (taken by its writer
 * for as long as it writes, src/resultFiles.ts) can be taken, and neither it nor a file in it has
 * changed for `minAgeMs`: its writer locks it just after making it, and a writer that could not
 * lock it (a client of a build before the lock, a file system without locks) is still writing.
 * A symbolic link is never followed: what it points at is not this --out's to clean.
 */
import { closeSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "./fileLock.ts";
import { QUERIES, queryFileName } from "./schema.ts";

/**
 * How long a session folder and its files must have been unchanged before they may be taken for
 * left behind. Long: a client that could not lock its folder (a build before the lock, a file
 * system without locks) makes its files empty at the start and may not touch them again until
 * its upload is done.
 */
export const ABANDONED_MIN_AGE_MS = 60 * 60_000;

const PART_FILES: ReadonlySet<string> = new Set(QUERIES.map((q) => `${queryFileName(q)}.part`));

/**
 * Remove the session folders in `outDir` that a killed client left (see above); returns their
 * paths. Best effort: a folder that cannot be read, locked or emptied is left as it is, and so is
 * one holding anything but `.part` files (a complete file, or something a user put there).
 */
export function removeAbandonedResults(outDir: string, nowMs = Date.now(), minAgeMs = ABANDONED_MIN_AGE_MS): string[] {
  let names: string[];
  try {
    names = readdirSync(outDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith("session_")) continue;
    const dir = join(outDir, name);
    if (removeIfAbandoned(dir, nowMs, minAgeMs)) removed.push(dir);
  }
  return removed;
}

/** True when `path` is a real file or folder (not a link) unchanged for `minAgeMs`. */
function stillFor(path: string, kind: "file" | "dir", nowMs: number, minAgeMs: number): boolean {
  const stat = lstatSync(path);
  return (kind === "dir" ? stat.isDirectory() : stat.isFile()) && nowMs - stat.mtimeMs >= minAgeMs;
}

function removeIfAbandoned(dir: string, nowMs: number, minAgeMs: number): boolean {
  let fd: number;
  try {
    if (!stillFor(dir, "dir", nowMs, minAgeMs)) return false;
    const entries = readdirSync(dir);
    if (!entries.every((entry) => PART_FILES.has(entry) && stillFor(join(dir, entry), "file", nowMs, minAgeMs))) return false;
    fd = openSync(dir, "r");
  } catch {
    return false;
  }
  try {
    // Held: its writer is alive. Unavailable: no writer could have locked it either, so nothing
    // tells a live one from a dead one, and the folder stays.
    if (tryLockExclusive(fd, dir).type !== "locked") return false;
    // Listed again under the lock: what is in it now is what its dead writer left.
    const entries = readdirSync(dir);
    if (!entries.every((entry) => PART_FILES.has(entry))) return false;
    for (const entry of entries) unlinkSync(join(dir, entry));
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
