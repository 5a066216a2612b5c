/**
 * One process per state directory: a second gateway or aggregator on the same write-ahead log
 * (two replicas on one volume, a copy started by hand beside coffee up's) would interleave its
 * records with the first one's and corrupt it. The lock is the kernel's (flock on STATE/LOCK,
 * through libc), so it goes with the process however that dies, SIGKILL included, and a revived
 * process takes it over at once. Where libc's flock cannot be reached, nothing is locked.
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

/** libc's flock, or null where it cannot be loaded (then state directories go unlocked). */
const flock: ((fd: number, operation: number) => number) | null = (() => {
  try {
    const lib = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    return (fd: number, operation: number) => lib.symbols.flock(fd, operation);
  } catch {
    return null;
  }
})();

/** A held lock; released when the process ends, or by `release()`. */
export interface StateDirLock {
  release(): void;
}

/** Take `dir`'s lock or throw CONFIG_INVALID naming the process that holds it. */
export function lockStateDir(dir: string): StateDirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "LOCK");
  const fd = openSync(path, "a+");
  if (flock !== null && flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    let holder = "";
    try {
      holder = readFileSync(path, "utf8").trim();
    } catch {
      // unreadable: the message just names no pid
    }
    closeSync(fd);
    throw new ConfigError(`state directory ${dir} is in use by another process${holder ? ` (pid ${holder})` : ""}: one gateway or aggregator per state directory; give this one its own --state-dir or --name`);
  }
  // Who holds it, for the message above (the lock itself is the flock, not this text).
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { release: () => closeSync(fd) };
}
