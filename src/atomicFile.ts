/** Files replaced atomically, so readers (monitors, tests) never see half a file, and directory entries made durable. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { CoffeeError, errorMessage } from "./errors.ts";

/**
 * fsync the directory `dir`, so the renames, new files and removals in it so far survive a
 * crash of the machine. Errors come as the system gave them: callers name what failed.
 */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `value` as JSON to `path` via a temporary file and a rename. A failure (a full disk) is
 * OUTPUT_FAILED naming the path, and leaves no temporary file behind.
 */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
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
