/**
 * One process per state directory: a second gateway or aggregator on the same write-ahead log
 * (two replicas on one volume, a copy started by hand beside coffee up's) would interleave its
 * records with the first one's and corrupt it. The lock is the kernel's (flock on STATE/LOCK,
 * through libc), so it goes with the process however that dies, SIGKILL included, and a revived
 * process takes it over at once. Where flock is not to be had (no glibc to load, a file system
 * without locks), the directory is used unlocked and the caller is told why.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, errorMessage, WalError } from "./errors.ts";
import { ensureDurableDir } from "./durableFs.ts";
import { tryLockExclusive } from "./fileLock.ts";

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
  const attempt = tryLockExclusive(fd, path);
  if (attempt.type === "unavailable") return unlocked(attempt.why);
  if (attempt.type === "held") {
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
