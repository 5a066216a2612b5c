/** Minimal structured-ish logging to stderr: one line per event, prefixed by process name. */

/** A logger bound to a process name. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Control characters (C0 but tab, DEL, C1): what could end a line early or drive a terminal. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/**
 * `msg` on one line, control characters written as `\n`, `\r` or `\xHH`: messages quote what
 * peers sent (a session id, a field, a file name), and a newline in one must not forge a line
 * of its own, nor an escape sequence reach an operator's terminal.
 */
export function oneLine(msg: string): string {
  return msg.replace(CONTROL, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/** Create a logger; lines look like `2026-11-23T10:00:00.000Z filter-year-1 INFO msg`. */
export function createLogger(name: string): Logger {
  const line = (level: string, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${name} ${level} ${oneLine(msg)}\n`);
  };
  return {
    info: (m) => line("INFO", m),
    warn: (m) => line("WARN", m),
    error: (m) => line("ERROR", m),
  };
}
