/**
 * Folders left in --out by a client that was killed (SIGKILL, a lost machine) before its session
 * ended: session_<id>/ holding only `queryN.csv.part` files nobody will finish, since a client
 * never resumes another run's session. A client removes them when it starts, so they do not pile
 * up beside real results. A folder counts as left behind only when it holds its writer's marker
 * (src/resultFiles.ts WRITER_MARKER: a writer that locks made it) and the marker's lock, held by
 * its writer for as long as it writes, can be taken. A folder without the marker (a client of a
 * build before it, which may be alive) is never removed. The marker must also be `minAgeMs` old:
 * its writer creates it, then locks it. A symbolic link is never followed: what it points at is
 * not this --out's to clean.
 */
import { closeSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "./fileLock.ts";
import { WRITER_MARKER } from "./resultFiles.ts";
import { QUERIES, queryFileName } from "./schema.ts";

/** How old a writer's marker must be before its folder may be taken for left behind (it is locked just after it is made). */
export const ABANDONED_MIN_AGE_MS = 30_000;

const LEFT_BEHIND: ReadonlySet<string> = new Set([...QUERIES.map((q) => `${queryFileName(q)}.part`), WRITER_MARKER]);

/**
 * Remove the session folders in `outDir` that a killed client left (see above); returns their
 * paths. Best effort: a folder that cannot be read, locked or emptied is left as it is, and so is
 * one holding anything but `.part` files and the marker (a complete file, or something a user put there).
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

function removeIfAbandoned(dir: string, nowMs: number, minAgeMs: number): boolean {
  const marker = join(dir, WRITER_MARKER);
  let fd: number;
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    const entries = readdirSync(dir);
    if (!entries.includes(WRITER_MARKER) || !entries.every((entry) => LEFT_BEHIND.has(entry))) return false;
    const stat = lstatSync(marker);
    if (!stat.isFile() || nowMs - stat.mtimeMs < minAgeMs) return false;
    fd = openSync(marker, "r");
  } catch {
    return false;
  }
  try {
    // Held: its writer is alive. Unavailable: no writer could have locked it either, so nothing
    // tells a live one from a dead one, and the folder stays.
    if (tryLockExclusive(fd, marker).type !== "locked") return false;
    // Listed again under the lock: what is in it now is what its dead writer left.
    const entries = readdirSync(dir);
    if (!entries.every((entry) => LEFT_BEHIND.has(entry))) return false;
    for (const entry of entries) unlinkSync(join(dir, entry));
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
