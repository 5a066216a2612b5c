/**
 * Folders left in --out by a client that was killed (SIGKILL, a lost machine) before its session
 * ended: session_<id>/ holding only `queryN.csv.part` files nobody will finish, since a client
 * never resumes another run's session. A client removes them when it starts, so they do not pile
 * up beside real results. A folder counts as left behind only when it holds its writer's marker
 * (src/resultFiles.ts WRITER_MARKER: a writer that locks made it) and the marker's lock, held by
 * its writer for as long as it writes, can be taken. A folder without the marker (a client of a
 * build before it, which may be alive, or one where no lock could be had) is never removed. A
 * writer locks its marker before giving it its name, so a marker is never seen unlocked while its
 * writer lives. A symbolic link is never followed: what it points at is not this --out's to clean.
 */
import { closeSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "./fileLock.ts";
import { WRITER_MARKER } from "./resultFiles.ts";
import { QUERIES, queryFileName } from "./schema.ts";

const LEFT_BEHIND: ReadonlySet<string> = new Set([...QUERIES.map((q) => `${queryFileName(q)}.part`), WRITER_MARKER]);

/**
 * Remove the session folders in `outDir` that a killed client left (see above); returns their
 * paths. Best effort: a folder that cannot be read, locked or emptied is left as it is, and so is
 * one holding anything but `.part` files and the marker (a complete file, or something a user put there).
 */
export function removeAbandonedResults(outDir: string): string[] {
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
    if (removeIfAbandoned(dir)) removed.push(dir);
  }
  return removed;
}

function removeIfAbandoned(dir: string): boolean {
  const marker = join(dir, WRITER_MARKER);
  let fd: number;
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    const entries = readdirSync(dir);
    if (!entries.includes(WRITER_MARKER) || !entries.every((entry) => LEFT_BEHIND.has(entry))) return false;
    if (!lstatSync(marker).isFile()) return false;
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
