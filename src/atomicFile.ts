/** Files replaced atomically, so readers (monitors, tests) never see half a file. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { fsyncDirectory } from "./durableFs.ts";
import { CoffeeError, errorMessage } from "./errors.ts";

/**
 * Write `value` as JSON to `path` via a temporary file and a rename. A failure (a full disk) is
 * OUTPUT_FAILED naming the path, and leaves no temporary file behind. `mode`: the file's
 * permissions (0o600 for one holding a secret), set as it is created, never after.
 */
export function writeJsonAtomic(path: string, value: unknown, mode?: number): void {
  const tmp = `${path}.tmp`;
  try {
    // A temporary file a crash left would keep its own mode through writeFileSync, and a link
    // planted there would be followed: removed, then created anew or not at all ("wx").
    if (mode !== undefined) rmSync(tmp, { force: true });
    writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", mode === undefined ? undefined : { mode, flag: "wx" });
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the failure to report is the write's
    }
    throw new CoffeeError("OUTPUT_FAILED", `cannot write ${path}: ${errorMessage(err)}`);
  }
}

/**
 * Write `text` to `path` whole and durably: a temporary file, fsynced, renamed over `path`, then
 * the directory fsynced; a crash leaves the old file or the new one, never part of it. Errors come
 * as the system gave them: callers name what failed.
 */
export function writeFileDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDirectory(dirname(path));
}
