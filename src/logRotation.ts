/**
 * A size cap on `coffee up`'s child logs (`<state>/logs/<name>.log`), which otherwise grow by
 * about a kilobyte per session for as long as the cluster runs. Each child writes its log through
 * a descriptor the supervisor opened with O_APPEND and that nobody can reopen for it, so a log
 * past the cap is copied to `<name>.log.1` (replacing the one before) and truncated in place: the
 * child's next write lands at the new end (logrotate's copytruncate). A line written between the
 * copy's last read and the truncation is lost; the copy catches up on what was appended while it
 * ran, so that window is one read and one rename long.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync, renameSync } from "node:fs";
import { join } from "node:path";
import { writeAll } from "./durableFs.ts";
import { errorMessage } from "./errors.ts";

const COPY_CHUNK_BYTES = 1 << 20;

/** Rotate `path` if it is over `maxBytes`; whether it did. Throws what the file system throws. */
export function rotateLog(path: string, maxBytes: number): boolean {
  const src = openSync(path, "r+");
  try {
    if (fstatSync(src).size <= maxBytes) return false;
    const partial = `${path}.1.partial`;
    const dst = openSync(partial, "w");
    try {
      const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
      let copied = 0;
      for (;;) {
        const n = readSync(src, buf, 0, buf.length, copied);
        if (n === 0) break;
        writeAll(dst, buf.subarray(0, n));
        copied += n;
      }
    } finally {
      closeSync(dst);
    }
    // Renamed whole (a reader of `<name>.log.1` never sees half a copy), and before the
    // truncation: a crash in between leaves the lines in both files, not in neither.
    renameSync(partial, `${path}.1`);
    ftruncateSync(src, 0);
    return true;
  } finally {
    closeSync(src);
  }
}

/** A running rotation. */
export interface LogRotation {
  stop(): void;
}

/**
 * Every `everyMs`, rotate each `*.log` in `dir` that is over `maxBytes` (0 = never). A failure
 * (a full disk) is told to `onError` and tried again at the next tick: logs never stop a cluster.
 */
export function startLogRotation(dir: string, maxBytes: number, everyMs: number, onRotated: (file: string) => void, onError: (message: string) => void): LogRotation {
  if (maxBytes === 0) return { stop() {} };
  const tick = (): void => {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(".log"));
    } catch {
      return; // not made yet, or removed: the supervisor makes it again at the next start
    }
    for (const name of names) {
      try {
        if (rotateLog(join(dir, name), maxBytes)) onRotated(name);
      } catch (err) {
        onError(`could not rotate the log ${join(dir, name)}: ${errorMessage(err)}`);
      }
    }
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
