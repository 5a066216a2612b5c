/**
 * File-system steps that make writes survive a crash of the machine, shared by the write-ahead
 * log, the gateway's result spool, Q1's spilled runs, the state-directory lock and the client's
 * result files.
 */
import { closeSync, fdatasync, fsync, fsyncSync, mkdirSync, openSync, realpathSync, statSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { errorMessage, WalError } from "./errors.ts";

/**
 * Write all of `bytes` at `position` (default: the file's current position); a write may take
 * fewer bytes, and a full disk says so on the next one.
 */
export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position === undefined ? null : position + done);
}

/**
 * fsync (or, with `dataOnly`, fdatasync) `fd` on Bun's thread pool: the event loop runs on while
 * the disk works, so a slow disk delays what waits for this, not health replies or heartbeats.
 * Errors come as the system gave them.
 */
function fsyncOffLoop(fd: number, dataOnly = false): Promise<void> {
  return new Promise<void>((done, fail) => (dataOnly ? fdatasync : fsync)(fd, (err) => (err ? fail(err) : done())));
}

/**
 * `fsyncOffLoop`, or the test `hook` in its place, then `observe` told how long it took (seconds).
 * An fsync's failure comes as the system gave it; an observer's is ignored, as it must not fail
 * an fsync that succeeded.
 */
export async function observedFsync(fd: number, dataOnly: boolean, hook: ((fd: number) => void | Promise<void>) | undefined, observe: ((seconds: number) => void) | undefined): Promise<void> {
  const started = performance.now();
  await (hook ? hook(fd) : fsyncOffLoop(fd, dataOnly));
  try {
    observe?.((performance.now() - started) / 1000);
  } catch {
    // Metrics only: what was fsynced is durable all the same.
  }
}

/**
 * The directories whose fsync makes `dir`'s entry survive a crash of the machine, and each
 * level's above it on its real path (a symlinked level's entry is in its target's parent), to the
 * root of `dir`'s filesystem.
 */
function directoriesAbove(dir: string): string[] {
  const real = realpathSync(dir);
  const device = statSync(real).dev;
  const out: string[] = [];
  for (let p = real; p !== dirname(p) && statSync(dirname(p)).dev === device; p = dirname(p)) out.push(dirname(p));
  return out;
}

/** `withDirectory` for a `use` that finishes later (an fsync off the event loop): closed once it settles. */
export async function withDirectoryOffLoop(dir: string, use: (fd: number) => Promise<void>): Promise<void> {
  const fd = openSync(dir, "r");
  try {
    await use(fd);
  } finally {
    closeSync(fd);
  }
}

/** Open the directory `dir`, hand its descriptor to `use`, and close it whatever happens. */
function withDirectory(dir: string, use: (fd: number) => void): void {
  const fd = openSync(dir, "r");
  try {
    use(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsync the directory `dir`, so the renames, new files and removals in it so far survive a
 * crash of the machine. Errors come as the system gave them: callers name what failed.
 */
export function fsyncDirectory(dir: string): void {
  withDirectory(dir, fsyncSync);
}

/** The error for a failed fsync of `what`: fatal and never retried (the kernel may have dropped the pages it could not write). */
export function fsyncFailure(what: string, err: unknown): WalError {
  return new WalError("WAL_FSYNC_FAILED", `fsync of ${what} failed (fatal, not retried): ${errorMessage(err)}`);
}

/**
 * Create `dir` and fsync the entry of every directory on its real path (a symlinked level's entry
 * is in its target's parent), not only of those made now: a start killed between its mkdir and
 * these fsyncs left directories that exist but whose entries a power loss could still take, with
 * every file written below them since. The climb stops where no directory this process made can
 * be: at the root of `dir`'s filesystem (a volume's mount point; above it, /proc say, a directory
 * fsync may not even be supported), or at a directory it may not open (EACCES, EPERM).
 * `syncDirectory` fsyncs one open directory (a caller may pass one that counts fsyncs).
 */
export function createDurableDir(dir: string, syncDirectory: (fd: number, dir: string) => void = (fd) => fsyncSync(fd)): void {
  mkdirSync(dir, { recursive: true });
  // Not `dir` itself: the entries of what is created in it are its creator's to make durable.
  for (const d of directoriesAbove(dir)) {
    try {
      withDirectory(d, (fd) => syncDirectory(fd, d));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") return;
      throw err;
    }
  }
}

/** `createDurableDir` with each directory's fsync awaited (the log's, on Bun's thread pool). */
export async function createDurableDirOffLoop(dir: string, syncDirectory: (fd: number, dir: string) => Promise<void>): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const d of directoriesAbove(dir)) {
    try {
      await withDirectoryOffLoop(d, (fd) => syncDirectory(fd, d));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") return;
      throw err;
    }
  }
}

/**
 * `createDurableDir` for files that sit beside a log: any failure is WAL_IO_FAILED naming `dir`
 * (the fsync's own WAL_FSYNC_FAILED kept as it is).
 */
export function ensureDurableDir(dir: string): void {
  try {
    createDurableDir(resolve(dir), (fd, d) => {
      try {
        fsyncSync(fd);
      } catch (err) {
        throw fsyncFailure(`directory ${d}`, err);
      }
    });
  } catch (err) {
    throw err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `cannot create ${dir}: ${errorMessage(err)}`);
  }
}
