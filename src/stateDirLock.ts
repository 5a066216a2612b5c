/**
 * One process per state directory: a second gateway or aggregator on the same write-ahead log
 * (two replicas on one volume, a copy started by hand beside coffee up's) would interleave its
 * records with the first one's and corrupt it. The lock is the kernel's (flock on STATE/LOCK,
 * through libc), so it goes with the process however that dies, SIGKILL included, and a revived
 * process takes it over at once. Where flock is not to be had (no glibc to load, a file system
 * without locks), the directory is used unlocked and the caller is told why.
 */
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, errorMessage, WalError } from "./errors.ts";
import { ensureDurableDir } from "./durableFs.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
/** errno of a lock held elsewhere: EWOULDBLOCK (= EAGAIN). */
const EWOULDBLOCK = process.platform === "darwin" ? 35 : 11;

interface Libc {
  flock(fd: number, operation: number): number;
  errno(): number;
}

/** libc's flock and errno, or why they cannot be had. */
const libc: Libc | string = (() => {
  const mac = process.platform === "darwin";
  try {
    const lib = dlopen(mac ? "libc.dylib" : "libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      [mac ? "__error" : "__errno_location"]: { args: [], returns: FFIType.ptr },
    });
    const where = (mac ? lib.symbols.__error : lib.symbols.__errno_location) as () => Pointer | null;
    return {
      flock: (fd: number, operation: number) => lib.symbols.flock(fd, operation) as number,
      errno: () => {
        const p = where();
        return p === null ? -1 : read.i32(p, 0);
      },
    };
  } catch (err) {
    return `libc's flock cannot be loaded (${errorMessage(err)})`;
  }
})();

/** A state directory's lock; `locked` false says why it is not (`unlockedBecause`). */
export interface StateDirLock {
  locked: boolean;
  unlockedBecause: string | null;
  release(): void;
}

/**
 * Take `dir`'s lock (creating `dir` durably if missing). Throws CONFIG_INVALID when another
 * process holds it, with `advice` on what to do instead; returns unlocked, with the reason, when
 * locks cannot be had here.
 */
export function lockStateDir(dir: string, advice = "one gateway or aggregator per state directory; give this one its own --state-dir or --name"): StateDirLock {
  ensureDurableDir(dir);
  const path = join(dir, "LOCK");
  let fd: number;
  try {
    fd = openSync(path, "a+");
  } catch (err) {
    throw new WalError("WAL_IO_FAILED", `cannot open ${path}: ${errorMessage(err)}`);
  }
  const unlocked = (why: string): StateDirLock => ({ locked: false, unlockedBecause: why, release: () => closeSync(fd) });
  if (typeof libc === "string") return unlocked(libc);
  if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = libc.errno();
    if (errno !== EWOULDBLOCK) return unlocked(`flock on ${path} failed with errno ${errno} (a file system without locks?)`);
    let holder = "";
    try {
      holder = readFileSync(path, "utf8").trim();
    } catch {
      // unreadable: the message names no pid
    }
    closeSync(fd);
    throw new ConfigError(`state directory ${dir} is in use by another process${holder ? ` (pid ${holder})` : ""}: ${advice}`);
  }
  // Who holds it, for the message above (the lock itself is the flock, not this text).
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
  } catch {
    // A full disk, say. Best effort: the text only names the holder in a refusal, and a process
    // with nothing to write may run on such a disk; what must be written says so with its path.
  }
  return { locked: true, unlockedBecause: null, release: () => closeSync(fd) };
}
