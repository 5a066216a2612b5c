/**
 * The kernel's advisory lock on an open file or folder (flock, through libc): it goes with the
 * process however that dies, SIGKILL included, so a lock that can be taken says its last holder
 * is gone. Where flock is not to be had (no glibc to load, a file system without locks), callers
 * are told why and decide what working unlocked means for them.
 */
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { errorMessage } from "./errors.ts";

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

/** What one try at a lock found: taken (until `fd` is closed), held by another open of the file, or no locks here (why). */
export type LockAttempt = { type: "locked" } | { type: "held" } | { type: "unavailable"; why: string };

/** Try to take an exclusive lock on the open file or folder `fd` without waiting; `what` names it in a reason. */
export function tryLockExclusive(fd: number, what: string): LockAttempt {
  if (typeof libc === "string") return { type: "unavailable", why: libc };
  if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return { type: "locked" };
  const errno = libc.errno();
  if (errno === EWOULDBLOCK) return { type: "held" };
  return { type: "unavailable", why: `flock on ${what} failed with errno ${errno} (a file system without locks?)` };
}
