/** Stable error codes shared by the client's messages, the gateway's replies, logs and tests. */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "FRAME_TOO_LARGE"
  | "FRAME_MALFORMED"
  | "PROTOCOL_VIOLATION"
  | "MESSAGE_MALFORMED"
  | "SESSION_LIMIT"
  | "CONNECTION_LIMIT"
  | "SESSION_UNKNOWN"
  | "CLIENT_TOO_SLOW"
  | "LIMIT_EXCEEDED"
  | "HANDSHAKE_TIMEOUT"
  | "CLIENT_IDLE"
  | "AUTH_FAILED"
  | "SESSION_IDLE"
  | "DATASET_INVALID"
  | "GATEWAY_UNREACHABLE"
  | "CONNECTION_LOST"
  | "BROKER_UNAVAILABLE"
  | "QUEUE_MISMATCH"
  | "QUEUE_IN_USE"
  | "INTERNAL"
  | "WAL_CORRUPT"
  | "WAL_FSYNC_FAILED"
  | "WAL_IO_FAILED"
  | "WAL_CLOSED"
  | "REVIVAL_FENCED"
  | "REVIVAL_FAILED"
  | "REVIVAL_BUDGET_EXHAUSTED"
  | "REVIVAL_BACKOFF"
  | "DASHBOARD_UNAVAILABLE"
  | "INTERRUPTED"
  | "OUTPUT_FAILED"
  | "PIPELINE_FAILED"
  | "PIPELINE_STALLED";

/** Base class of every error coffee raises on purpose; `code` is stable, `message` is for people. */
export class CoffeeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = "CoffeeError";
  }
}

/** A flag or environment variable has a value coffee cannot use. */
export class ConfigError extends CoffeeError {
  constructor(message: string) {
    super("CONFIG_INVALID", message);
    this.name = "ConfigError";
  }
}

/** Bytes on a wire (TCP frame or broker message) that do not decode to a valid message. */
export class DecodeError extends CoffeeError {
  constructor(code: "FRAME_TOO_LARGE" | "FRAME_MALFORMED" | "MESSAGE_MALFORMED", message: string) {
    super(code, message);
    this.name = "DecodeError";
  }
}

/** A peer sent a well-formed message at the wrong time or with inconsistent content. */
export class ProtocolError extends CoffeeError {
  constructor(message: string) {
    super("PROTOCOL_VIOLATION", message);
    this.name = "ProtocolError";
  }
}

/** The dataset directory given to the client (or to `coffee reference`) cannot be used. */
export class DatasetError extends CoffeeError {
  constructor(message: string) {
    super("DATASET_INVALID", message);
    this.name = "DatasetError";
  }
}

/**
 * A sum of money (cents) or quantities left the range a float64 holds exactly, ±(2^53 − 1):
 * past it the total would round, and a wrong total is worse than none (src/exactSum.ts).
 */
export class SumOverflowError extends CoffeeError {
  constructor(message: string) {
    super("LIMIT_EXCEEDED", message);
    this.name = "SumOverflowError";
  }
}

/** A broken invariant inside coffee itself (a bug, not bad input). */
export class InternalError extends CoffeeError {
  constructor(message: string) {
    super("INTERNAL", message);
    this.name = "InternalError";
  }
}

/**
 * Codes no retry changes, only a new configuration: a command that ends with one exits 2 (any
 * other failure, 1), and coffee up stops rather than restart a child that exits 2 while starting.
 */
export const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["CONFIG_INVALID", "QUEUE_MISMATCH", "QUEUE_IN_USE"]);

/** Exit status of a role process whose log or spool failed (src/fatal.ts), whenever it fails. */
export const STORAGE_FAILURE_EXIT = 70;

/**
 * The exit code of a command that ended with `err`: 2 for a refusal (REFUSAL_CODES), 70 when its
 * durable state could not be written or read (WAL_IO_FAILED, WAL_FSYNC_FAILED: as a role that
 * meets one while running exits, to be revived), else 1.
 */
export function exitCodeOf(err: unknown): 1 | 2 | typeof STORAGE_FAILURE_EXIT {
  if (err instanceof CoffeeError && REFUSAL_CODES.has(err.code)) return 2;
  return isWalWriteFailure(err) ? STORAGE_FAILURE_EXIT : 1;
}

/** Narrow `unknown` (from catch) to a printable message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `CODE: message` for a CoffeeError, the message alone for anything else: what a log or stderr line shows. */
export function codedMessage(err: unknown): string {
  return `${err instanceof CoffeeError ? `${err.code}: ` : ""}${errorMessage(err)}`;
}

/** Codes a write-ahead log raises: corruption found on recovery, a fatal durability failure, use after close. */
export type WalErrorCode = "WAL_CORRUPT" | "WAL_FSYNC_FAILED" | "WAL_IO_FAILED" | "WAL_CLOSED";

/** The write-ahead log cannot (or can no longer) guarantee what it promises; see src/wal.ts. */
export class WalError extends CoffeeError {
  constructor(code: WalErrorCode, message: string) {
    super(code, message);
    this.name = "WalError";
  }
}

/** Whether `err` is a CoffeeError of `code` (the check every retry loop and fallback makes). */
export const hasCode = (err: unknown, code: ErrorCode): err is CoffeeError => err instanceof CoffeeError && err.code === code;

/**
 * A write or fsync of durable state failed (not a read, not a store closed at shutdown): what is
 * durable is unknown, so the process must stop and be revived rather than go on.
 */
export const isWalWriteFailure = (err: unknown): err is WalError =>
  err instanceof WalError && (err.code === "WAL_IO_FAILED" || err.code === "WAL_FSYNC_FAILED");
