/** Minimal structured-ish logging to stderr: one line per event, prefixed by process name. */

/** A logger bound to a process name. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Create a logger; lines look like `2026-11-23T10:00:00.000Z filter-year-1 INFO msg`. */
export function createLogger(name: string): Logger {
  const line = (level: string, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${name} ${level} ${msg}\n`);
  };
  return {
    info: (m) => line("INFO", m),
    warn: (m) => line("WARN", m),
    error: (m) => line("ERROR", m),
  };
}
