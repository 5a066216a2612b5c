/**
 * Where the gateway keeps each session's result chunks until its client has them all: on disk,
 * one append-only file per session, so the gateway's memory does not grow with the results (a
 * full-scale Q1 is megabytes per session). The gateway's log records only where each chunk is;
 * the log calls `sync()` before writing such records (src/wal.ts beforeWrite), so a record on
 * disk never points past what the spool made durable.
 */
import { closeSync, existsSync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { WalError } from "./errors.ts";

/** Where a chunk's bytes are in its session's spool. */
export interface SpoolRef {
  offset: number;
  length: number;
}

/** A result spool: appends, makes durable, reads back, forgets a session. */
export interface ResultSpool {
  /** Append one chunk's text for `session`; durable after the next `sync()`. */
  append(session: string, text: string): SpoolRef;
  /** Make every append so far durable. */
  sync(): void;
  /** The text of a chunk appended earlier (also after a restart, once synced). */
  read(session: string, ref: SpoolRef): string;
  /** Forget a session's chunks (its file is deleted). */
  drop(session: string): void;
  /** Forget every session not in `keep` (files a crash left behind). */
  retain(keep: ReadonlySet<string>): void;
  /** Release open files. */
  close(): void;
}

/** Observes each fsync (metrics), with its duration in seconds. */
export type SpoolFsyncObserver = (seconds: number, kind: "records" | "directory") => void;

const SUFFIX = ".chunks";
/** Session ids are UUIDs; anything else in a file name is refused rather than trusted as a path. */
const SESSION_ID = /^[0-9a-f-]{1,64}$/i;

interface SpoolFile {
  fd: number;
  size: number;
}

/** A spool of files in `dir` (created if missing). */
export function fileSpool(dir: string, onFsync?: SpoolFsyncObserver): ResultSpool {
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, SpoolFile>();
  const dirty = new Set<SpoolFile>();
  let created = false;
  const encoder = new TextEncoder();
  const timed = (kind: "records" | "directory", sync: () => void): void => {
    const started = performance.now();
    try {
      sync();
    } catch (err) {
      // As for the log: after a failed fsync the page cache state is unknown, so never retried.
      throw new WalError("WAL_FSYNC_FAILED", `fsync of the result spool in ${dir} failed (fatal, not retried): ${(err as Error).message}`);
    }
    onFsync?.((performance.now() - started) / 1000, kind);
  };
  const pathOf = (session: string): string => {
    if (!SESSION_ID.test(session)) throw new WalError("WAL_IO_FAILED", `not a session id: ${JSON.stringify(session)}`);
    return join(dir, session + SUFFIX);
  };
  /** The session's open file; reading never creates one. */
  const fileOf = (session: string, create: boolean): SpoolFile => {
    let f = files.get(session);
    if (!f) {
      const path = pathOf(session);
      if (!create && !existsSync(path)) throw new WalError("WAL_CORRUPT", `no result spool for session ${session} in ${dir}`);
      const fd = openSync(path, "a+");
      // After a restart appends go on after what is there; refs in the log never point past it.
      f = { fd, size: fstatSync(fd).size };
      files.set(session, f);
      created ||= create;
    }
    return f;
  };
  return {
    append(session, text) {
      const f = fileOf(session, true);
      const bytes = encoder.encode(text);
      let done = 0;
      while (done < bytes.length) done += writeSync(f.fd, bytes, done, bytes.length - done, f.size + done);
      const ref = { offset: f.size, length: bytes.length };
      f.size += bytes.length;
      dirty.add(f);
      return ref;
    },
    sync() {
      for (const f of dirty) timed("records", () => fdatasyncSync(f.fd));
      dirty.clear();
      if (created) {
        // A new file's directory entry must be durable too, or the file may vanish in a crash.
        const fd = openSync(dir, "r");
        try {
          timed("directory", () => fsyncSync(fd));
        } finally {
          closeSync(fd);
        }
        created = false;
      }
    },
    read(session, ref) {
      const f = fileOf(session, false);
      const bytes = new Uint8Array(ref.length);
      let done = 0;
      while (done < ref.length) {
        const n = readSync(f.fd, bytes, done, ref.length - done, ref.offset + done);
        if (n === 0) throw new WalError("WAL_CORRUPT", `result spool of session ${session} ends before ${ref.offset + ref.length} bytes`);
        done += n;
      }
      return new TextDecoder().decode(bytes);
    },
    drop(session) {
      const f = files.get(session);
      if (f) {
        closeSync(f.fd);
        dirty.delete(f);
        files.delete(session);
      }
      rmSync(pathOf(session), { force: true });
    },
    retain(keep) {
      for (const name of readdirSync(dir)) {
        const session = name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : null;
        if (session !== null && SESSION_ID.test(session) && !keep.has(session)) this.drop(session);
      }
    },
    close() {
      for (const f of files.values()) closeSync(f.fd);
      files.clear();
      dirty.clear();
    },
  };
}

/** A spool in memory, for a gateway without a state directory (in-process clusters, tests). */
export function memorySpool(): ResultSpool {
  const texts = new Map<string, string[]>();
  return {
    append(session, text) {
      const list = texts.get(session) ?? [];
      texts.set(session, list);
      list.push(text);
      return { offset: list.length - 1, length: text.length };
    },
    sync() {},
    read(session, ref) {
      const text = texts.get(session)?.[ref.offset];
      if (text === undefined) throw new WalError("WAL_CORRUPT", `no result chunk at ${ref.offset} for session ${session}`);
      return text;
    },
    drop(session) {
      texts.delete(session);
    },
    retain(keep) {
      for (const session of texts.keys()) if (!keep.has(session)) texts.delete(session);
    },
    close() {},
  };
}
