/**
 * Why a child of coffee up exited, read from the end of its log: for a refusal (exit 2,
 * src/errors.ts REFUSAL_CODES) the `coffee: CODE: message` line src/main.ts writes last, so coffee
 * up can say it instead of restarting the child for a minute; for any other failure its last
 * error line, so a crash loop says why in coffee up's own log.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CoffeeError, ConfigError, REFUSAL_CODES, type ErrorCode } from "./errors.ts";

/** How much of the log's end is read: the line is among the last a child writes. */
const TAIL_BYTES = 64 * 1024;

/**
 * The refusal `name` logged in `logFile` after byte `from` (where this run of it began: the log
 * keeps earlier runs' lines), with its own code; a generic one if it says nothing readable.
 */
export function childRefusal(name: string, logFile: string, from = 0): CoffeeError {
  const line = lastRefusalLine(readTail(logFile, from));
  if (line) return new CoffeeError(line.code, `${name} cannot start: ${line.message} (its log: ${logFile})`);
  return new ConfigError(`${name} refused its configuration (exit 2) and its log says no more; see ${logFile}`);
}

/** The last `coffee: CODE: message` line of `text` whose code is a refusal, or null. */
export function lastRefusalLine(text: string): { code: ErrorCode; message: string } | null {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^coffee: ([A-Z_]+): (.*)$/.exec(lines[i]!);
    if (m && REFUSAL_CODES.has(m[1] as ErrorCode)) return { code: m[1] as ErrorCode, message: m[2]! };
  }
  return null;
}

/** Longest last error line quoted (a stack or a huge message is in the log itself). */
const MAX_LAST_ERROR_CHARS = 300;

/**
 * The last error `logFile` holds after byte `from`: a `coffee: ...` line (src/main.ts) or a line
 * logged at ERROR, cut to a few hundred characters; null when there is none.
 */
export function childLastError(logFile: string, from = 0): string | null {
  const lines = readTail(logFile, from).split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^coffee: (.+)$/.exec(lines[i]!) ?? / ERROR (.+)$/.exec(lines[i]!);
    if (m) return m[1]!.length > MAX_LAST_ERROR_CHARS ? `${m[1]!.slice(0, MAX_LAST_ERROR_CHARS)}...` : m[1]!;
  }
  return null;
}

/** The last TAIL_BYTES of a file after byte `from`, as text ("" if it cannot be read: the refusal is still reported). */
function readTail(path: string, from: number): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    // Shorter than where this run began: rotated since (src/logRotation.ts), all of it is this run's.
    const start = size < from ? 0 : from;
    const buf = Buffer.alloc(Math.min(size - start, TAIL_BYTES));
    const read = readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.subarray(0, read).toString("utf8");
  } catch {
    return "";
  } finally {
    closeSync(fd);
  }
}
