/**
 * Where the gateway keeps each session's result chunks until its client has them all: on disk,
 * one append-only file per session, so the gateway's memory does not grow with the results (a
 * full-scale Q1 is megabytes per session). The gateway's log records only where each chunk is;
 * the log calls `sync()` before writing such records (src/wal.ts beforeWrite), so a record on
 * disk never points past what the spool made durable. Spool files hold bare text: the log's
 * records (CRC-checked) say where each chunk starts, how long it is and the CRC32 of its bytes,
 * which a read checks (refs logged before the CRC was kept are read unchecked).
 */
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { observedFsync, withDirectoryOffLoop, writeAll } from "./durableFs.ts";
import { errorMessage, InternalError, WalError } from "./errors.ts";
import { decodeUtf8 } from "./utf8.ts";

/** Where a chunk's bytes are in its session's spool. */
export interface SpoolRef {
  offset: number;
  length: number;
  /** CRC32 of the chunk's bytes; absent in refs logged by gateways that kept none. */
  crc?: number;
}

/** A result spool: appends, makes durable, reads back, forgets a session. */
export interface ResultSpool {
  /** Append one chunk's text for `session`; durable once a `sync()` called after it is. Throws WalError (and fails every later append and sync) when the disk does. */
  append(session: string, text: string): SpoolRef;
  /** Make every append made before the call durable; a failure is fatal, as for the log. */
  sync(): Promise<void>;
  /** The text of a chunk appended earlier (also after a restart, once synced). */
  read(session: string, ref: SpoolRef): string;
  /** Whether the spool holds `ref`'s bytes at all (false: its file is missing or shorter). */
  covers(session: string, ref: SpoolRef): boolean;
  /** Forget a session's chunks (its file is deleted). */
  drop(session: string): void;
  /** Forget every session not in `keep` (files a crash left behind). */
  retain(keep: ReadonlySet<string>): void;
  /** Release open files. */
  close(): void;
}

/** What the spool's fsyncs are reported as (metrics label them apart from the log's). */
export type SpoolFsyncKind = "spool-records" | "spool-directory";

/** Observes each fsync (metrics), with its duration in seconds. */
export type SpoolFsyncObserver = (seconds: number, kind: SpoolFsyncKind) => void;

const SUFFIX = ".chunks";
/** Session ids are UUIDs; anything else in a file name is refused rather than trusted as a path. */
const SESSION_ID = /^[0-9a-f-]{1,64}$/;
/** Read-write, created when missing, and not O_APPEND: every write goes to the offset the spool chose. */
const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT;
/** Reopening a file this process already wrote: if it vanished, that is a failure, not a new file. */
const REOPEN_FLAGS = constants.O_RDWR;
const encoder = new TextEncoder();

/** A session's file: its size, and an open descriptor only while it has unsynced appends. */
interface SpoolFile {
  fd: number | null;
  size: number;
}

/**
 * A spool of files in `dir`, created if missing (its entry made durable at the first sync). A
 * descriptor stays open only from a session's first append until the next `sync()` to start has
 * fsynced it (an append during a sync waits for the one after), so a session holds at most two
 * (src/openFileLimit.ts), not one for every session with stored results. `fsync` is a test hook
 * replacing every fsync (a promise it returns is awaited), never set in production.
 */
export function fileSpool(dir: string, onFsync?: SpoolFsyncObserver, fsync?: (fd: number) => void | Promise<void>): ResultSpool {
  const files = new Map<string, SpoolFile>();
  const dirty = new Set<SpoolFile>();
  let newFiles = false;
  /** Set by the first failed append or sync: the files' state is unknown from then on. */
  let failure: WalError | null = null;

  /** On Bun's thread pool, as the log's fsyncs (src/wal.ts): a slow disk does not stall the gateway. */
  const timed = async (kind: SpoolFsyncKind, fd: number): Promise<void> => {
    try {
      await observedFsync(fd, kind === "spool-records", fsync, onFsync && ((seconds) => onFsync(seconds, kind)));
    } catch (err) {
      // As for the log: after a failed fsync the page cache state is unknown, so never retried.
      throw new WalError("WAL_FSYNC_FAILED", `fsync of the result spool in ${dir} failed (fatal, not retried): ${errorMessage(err)}`);
    }
  };
  const syncDirLater = (path: string): Promise<void> => withDirectoryOffLoop(path, (fd) => timed("spool-directory", fd));
  /** Runs a write-side step; its failure poisons the spool. */
  const guarded = <T>(what: string, step: () => T): T => {
    if (failure) throw failure;
    try {
      return step();
    } catch (err) {
      failure = err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `${what} in the result spool ${dir} failed (fatal): ${errorMessage(err)}`);
      throw failure;
    }
  };
  const pathOf = (session: string): string => {
    if (!SESSION_ID.test(session)) throw new InternalError(`not a session id: ${JSON.stringify(session)}`);
    return join(dir, session + SUFFIX);
  };

  guarded("opening the directory", () => mkdirSync(dir, { recursive: true }));
  // At the first sync, before the log can point at anything here: the entries of the folder and
  // of the files in it, always, not only when created here: a gateway killed between creating
  // the folder or a file and its fsync leaves entries that exist but are not durable, and from
  // now on files that exist are taken as durable (a file is new to `sync` only if it did not exist).
  let folderEntryPending = true;
  newFiles = true;

  return {
    append(session, text) {
      const path = pathOf(session);
      return guarded("an append", () => {
        let f = files.get(session);
        if (!f) {
          newFiles ||= !existsSync(path);
          const fd = openSync(path, OPEN_FLAGS, 0o644);
          // After a restart appends go on after what is there; refs in the log never point past it.
          f = { fd, size: fstatSync(fd).size };
          files.set(session, f);
        }
        // Recreated empty, the file would read back as zeros below `size` (the text has no checksum).
        const fd = f.fd ?? openSync(path, REOPEN_FLAGS);
        f.fd = fd;
        const bytes = encoder.encode(text);
        writeAll(fd, bytes, f.size);
        const ref = { offset: f.size, length: bytes.length, crc: Bun.hash.crc32(bytes) };
        f.size += bytes.length;
        dirty.add(f);
        return ref;
      });
    },
    async sync() {
      if (failure) throw failure;
      // Appends made while these fsyncs run go to files reopened for them and wait for the next
      // sync: every descriptor is taken out of its file before the first fsync starts (a drop or
      // close meanwhile then closes none of them).
      const fds: number[] = [];
      for (const f of dirty) {
        if (f.fd !== null) fds.push(f.fd);
        f.fd = null;
      }
      dirty.clear();
      const dirEntries = newFiles;
      newFiles = false;
      try {
        try {
          for (const fd of fds) await timed("spool-records", fd);
        } finally {
          for (const fd of fds) closeSync(fd);
        }
        // A new file's directory entry must be durable too, or the file may vanish in a crash.
        if (dirEntries) await syncDirLater(dir);
        if (folderEntryPending) {
          await syncDirLater(dirname(dir));
          folderEntryPending = false;
        }
      } catch (err) {
        failure ??= err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `an fsync in the result spool ${dir} failed (fatal): ${errorMessage(err)}`);
        throw failure;
      }
    },
    read(session, ref) {
      const path = pathOf(session);
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (err) {
        // One open, no existsSync before it: a missing file is corrupt state, any other failure I/O.
        if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new WalError("WAL_CORRUPT", `no result spool for session ${session} in ${dir}`);
        throw new WalError("WAL_IO_FAILED", `cannot open the result spool of session ${session}: ${errorMessage(err)}`);
      }
      try {
        const bytes = new Uint8Array(ref.length);
        let done = 0;
        while (done < ref.length) {
          const n = readSync(fd, bytes, done, ref.length - done, ref.offset + done);
          if (n === 0) throw new WalError("WAL_CORRUPT", `result spool of session ${session} ends before ${ref.offset + ref.length} bytes`);
          done += n;
        }
        if (ref.crc !== undefined && Bun.hash.crc32(bytes) !== ref.crc) {
          throw new WalError("WAL_CORRUPT", `result spool of session ${session}: the chunk at bytes ${ref.offset}..${ref.offset + ref.length} fails its CRC (changed on disk?)`);
        }
        return decodeUtf8(bytes);
      } catch (err) {
        throw err instanceof WalError ? err : new WalError("WAL_IO_FAILED", `cannot read the result spool of session ${session}: ${errorMessage(err)}`);
      } finally {
        closeSync(fd);
      }
    },
    covers(session, ref) {
      const f = files.get(session);
      if (f) return ref.offset + ref.length <= f.size;
      try {
        return ref.offset + ref.length <= statSync(pathOf(session)).size;
      } catch {
        return false;
      }
    },
    drop(session) {
      const path = pathOf(session);
      const f = files.get(session);
      if (f) {
        if (f.fd !== null) closeSync(f.fd);
        dirty.delete(f);
        files.delete(session);
      }
      try {
        rmSync(path, { force: true });
      } catch {
        // Only disk space is at stake: the next start's retain() removes what is left.
      }
    },
    retain(keep) {
      for (const name of readdirSync(dir)) {
        const session = name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : null;
        if (session !== null && SESSION_ID.test(session) && !keep.has(session)) this.drop(session);
      }
    },
    close() {
      for (const f of files.values()) if (f.fd !== null) closeSync(f.fd);
      files.clear();
      dirty.clear();
    },
  };
}

/**
 * A spool in memory, for a gateway without a state directory (in-process clusters, tests). Its
 * refs are positions in a session's list of texts (`offset`), not byte ranges in a file, with
 * the text's UTF-8 length and CRC32 as a file spool's refs have them.
 */
export function memorySpool(): ResultSpool {
  const texts = new Map<string, string[]>();
  return {
    append(session, text) {
      const list = texts.get(session) ?? [];
      texts.set(session, list);
      list.push(text);
      // Length and CRC of the UTF-8 bytes, as a file spool's refs: the gateway compares a chunk
      // that comes again with them.
      const bytes = encoder.encode(text);
      return { offset: list.length - 1, length: bytes.length, crc: Bun.hash.crc32(bytes) };
    },
    async sync() {},
    read(session, ref) {
      const text = texts.get(session)?.[ref.offset];
      if (text === undefined) throw new WalError("WAL_CORRUPT", `no result chunk at ${ref.offset} for session ${session}`);
      return text;
    },
    covers(session, ref) {
      return texts.get(session)?.[ref.offset] !== undefined;
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
