/** Minimal structured-ish logging to stderr: one line per event, prefixed by process name. */

/** A logger bound to a process name. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Control characters (C0 but tab, DEL, C1), line and paragraph separators and bidirectional
 * overrides: what could end a line early, drive a terminal, or make a line read other than it is.
 */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `msg` on one line, control characters written as `\n`, `\r`, `\xHH` or `\uHHHH`: messages quote what
 * peers sent (a session id, a field, a file name), and a newline in one must not forge a line
 * of its own, nor an escape sequence reach an operator's terminal.
 */
export function oneLine(msg: string): string {
  return msg.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    return code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`;
  });
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
