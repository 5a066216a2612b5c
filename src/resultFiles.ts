/**
 * Writes a session's result chunks to OUT/session_<id>/queryN.csv in chunk order, whatever
 * order they arrive in, and knows when all four files are complete. Files are written as
 * `queryN.csv.part` and renamed only once the whole session succeeded, so a failed run never
 * leaves a file that looks complete; each is fsynced before, and the directory after, the
 * renames, so a crash of the machine cannot leave a named file short either. While they are
 * written the folder holds WRITER_MARKER, locked (src/fileLock.ts), so that a later client in
 * the same --out can tell the folder of one that was killed from a live one
 * (src/abandonedResults.ts); the marker goes once the files have their names.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { ensureDurableDir, fsyncDirectory, writeAll } from "./durableFs.ts";
import { CoffeeError, hasCode, ProtocolError, errorMessage } from "./errors.ts";
import { tryLockExclusive } from "./fileLock.ts";
import { QUERIES, queryFileName, type QueryName } from "./schema.ts";

interface QueryFile {
  fd: number;
  /** False once its descriptor was closed, complete or not (close() on failure). */
  open: boolean;
  next: number;
  pending: Map<number, { csv: string; last: boolean }>;
  complete: boolean;
  bytes: number;
}

/**
 * The file a writer of this build keeps open and locked in its session folder. Its presence says
 * the writer locks (a client of a build before it does not, and its folder is never taken for
 * left behind); its lock, free, says the writer is gone.
 */
export const WRITER_MARKER = ".writer";

/** The result files of one session. */
export class ResultFiles {
  readonly dir: string;
  private readonly files = new Map<QueryName, QueryFile>();
  private committed = false;
  /** WRITER_MARKER, open and locked while the `.part` files are ours to write; -1 once released (or never locked). */
  private lockFd = -1;
  /** Queries whose file already has its final name: a commit that fails midway leaves these to discard(). */
  private readonly renamed = new Set<QueryName>();

  /** Creates the session's folder, its locked marker and its four `.part` files; if one cannot be, what was made is removed again. */
  constructor(outDir: string, session: string) {
    this.dir = join(outDir, `session_${session}`);
    written(this.dir, () => mkdirSync(this.dir, { recursive: true }));
    try {
      this.lockFd = this.placeMarker();
      for (const q of QUERIES) {
        const path = this.partPath(q);
        const fd = written(path, () => openSync(path, "w"));
        this.files.set(q, { fd, open: true, next: 0, pending: new Map(), complete: false, bytes: 0 });
      }
    } catch (err) {
      // Nobody holds this object to discard it: the files made so far would stay, open and partial.
      this.discard();
      throw err;
    }
  }

  /**
   * WRITER_MARKER, locked before it takes its name, so that no sweep ever finds one unlocked
   * while its writer lives; -1 where no lock can be had: then no marker, and the folder is never
   * taken for left behind (as an older build's).
   */
  private placeMarker(): number {
    const staging = join(this.dir, `${WRITER_MARKER}.${process.pid}`);
    const fd = written(staging, () => openSync(staging, "w"));
    if (tryLockExclusive(fd, staging).type === "locked") {
      written(this.dir, () => renameSync(staging, join(this.dir, WRITER_MARKER)));
      return fd;
    }
    closeSync(fd);
    try { unlinkSync(staging); } catch { /* best effort: a stray marker without its name is never swept */ }
    return -1;
  }

  private partPath(q: QueryName): string {
    return join(this.dir, `${queryFileName(q)}.part`);
  }

  /**
   * Accept one chunk; writes it and any buffered successors that are now in order. A chunk
   * already held is ignored (returns false): after a resume the gateway sends its store again.
   */
  add(query: QueryName, chunk: number, last: boolean, csv: string): boolean {
    const f = this.files.get(query)!;
    if (f.complete || !f.open || chunk < f.next || f.pending.has(chunk)) return false;
    f.pending.set(chunk, { csv, last });
    written(this.partPath(query), () => {
      for (let c = f.pending.get(f.next); c; c = f.pending.get(f.next)) {
        f.pending.delete(f.next);
        const bytes = Buffer.from(c.csv, "utf8");
        writeAll(f.fd, bytes);
        f.bytes += bytes.length;
        f.next++;
        if (c.last) {
          fsyncSync(f.fd);
          // Complete only once fsynced: a failed fsync leaves the descriptor to close(). Marked
          // closed before closing: a failed close has freed it all the same, and must not be redone.
          f.complete = true;
          f.open = false;
          closeSync(f.fd);
          break;
        }
      }
    });
    return true;
  }

  /** True when every query's last chunk and all before it were written. */
  allComplete(): boolean {
    return [...this.files.values()].every((f) => f.complete);
  }

  /** Queries still incomplete. */
  missing(): QueryName[] {
    return [...this.files].filter(([, f]) => !f.complete).map(([q]) => q);
  }

  /** Bytes written per query. */
  sizes(): Record<string, number> {
    return Object.fromEntries([...this.files].map(([q, f]) => [q, f.bytes]));
  }

  /** Give every complete file its final name (call once the session is done; again is a no-op). */
  commit(): void {
    if (this.committed) return;
    if (!this.allComplete()) throw new ProtocolError(`results incomplete: ${this.missing().join(", ")}`);
    written(this.dir, () => {
      for (const q of this.files.keys()) {
        renameSync(this.partPath(q), join(this.dir, queryFileName(q)));
        this.renamed.add(q);
      }
      // Named, the results need no marker: the folder holds the four files alone. (Still locked
      // until close(): a sweep that opened it before this sees complete files, and keeps them.)
      // One someone deleted, or none made (no locks here), is no reason to fail the run.
      try { unlinkSync(join(this.dir, WRITER_MARKER)); } catch { /* gone, or never placed */ }
      fsyncDirectory(this.dir);
      // The folder's own entry and those above it (--out may be new) too: once the client says
      // bye, the gateway deletes its copy, and a power loss must not take the folder after that.
      ensureDurableDir(this.dir);
    });
    this.committed = true;
  }

  /** Close files left open (on failure), then let the marker's lock go. An incomplete file stays incomplete: it takes no more chunks. */
  close(): void {
    this.closeFiles();
    if (this.lockFd !== -1) {
      const fd = this.lockFd;
      this.lockFd = -1;
      closeSync(fd);
    }
  }

  private closeFiles(): void {
    for (const f of this.files.values()) if (f.open) { f.open = false; closeSync(f.fd); }
  }

  /**
   * The run failed and will not be resumed: close and delete the partial files, and the session's
   * folder if nothing else is in it. Best effort: it runs on the way out of a failure already
   * reported, so what cannot be deleted stays.
   */
  discard(): void {
    if (this.committed) return this.close();
    this.closeFiles();
    // A commit that failed midway named some files already: they go too, or a failed run would
    // leave files that look complete. The marker goes last, then its lock.
    const paths = [...this.files.keys()].map((q) => (this.renamed.has(q) ? join(this.dir, queryFileName(q)) : this.partPath(q)));
    for (const path of [...paths, join(this.dir, WRITER_MARKER)]) {
      try { unlinkSync(path); } catch { /* gone already, or not ours to delete */ }
    }
    try { rmdirSync(this.dir); } catch { /* not empty: something else is in it */ }
    this.close();
  }
}

/** Run a file operation on `path`; its failure (disk full, permissions) is OUTPUT_FAILED naming the path. */
function written<T>(path: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    // A WalError too (ensureDurableDir's): for the client it is its output that failed.
    throw hasCode(err, "OUTPUT_FAILED") ? err : new CoffeeError("OUTPUT_FAILED", `cannot write results to ${path}: ${errorMessage(err)}`);
  }
}
