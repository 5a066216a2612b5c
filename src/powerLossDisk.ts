/**
 * Test-only: a simulated disk for power-loss tests (src/aggregatorPowerLoss.test.ts,
 * src/gatewayPowerLoss.test.ts). A store under test is given `Disk.fsync` as its fsync hook; the
 * Disk notes, at each fsync, what that fsync made durable under its root: a file's content, or a
 * folder's entries. `image` then writes what a machine that lost power right now could leave on
 * disk: each file's content only as of its last fsync, each folder's entries only as of its last
 * fsync (entries made since are lost, entries removed since come back), and what was never
 * synced empty, zeros, as it is, or gone, per `Mode`. Files and folders are told apart by inode
 * and birth time, so a rename (a snapshot's temp file taking its name) keeps its content's
 * history, and a name reused by another file is another file. Never used outside tests.
 */
import { fstatSync, fsyncSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What a file written since its last fsync holds after the power loss: nothing (its length was
 * not durable), zeros (its length was, its data was not), its current bytes (a process crash,
 * not a power loss), or the file is gone (never synced at all).
 */
export type Mode = "empty" | "zeros" | "current" | "absent";

type Key = string;
const keyOf = (st: { ino: bigint; birthtimeNs: bigint }): Key => `${st.ino}:${st.birthtimeNs}`;

/** The last fsynced state of every file and folder under `root`, as the disk would keep it. */
export class Disk {
  readonly root: string;
  private readonly files = new Map<Key, Buffer>();
  private readonly dirsSynced = new Map<Key, Map<string, { key: Key; dir: boolean }>>();
  private readonly rootKey: Key;
  /**
   * Called at each fsync, before it takes effect (so an image taken here is a power loss just
   * before it), with the path of what is synced: a test may skip fsyncs outside `root` (the
   * folders above a store's, which the store climbs to make its own folder's entry durable).
   */
  onFsync: ((path: string) => void) | null = null;

  /**
   * Everything under `root` now is taken as durable. `realFsync`: whether `fsync` also fsyncs for
   * real; a test can do without (the images are built from what the Disk noted, never from the
   * disk's own state), and fsyncs are its slowest step on a busy machine.
   */
  constructor(root: string, private readonly realFsync = true) {
    // As /proc/self/fd names it: a symlinked temp folder would otherwise never match.
    this.root = realpathSync(root);
    this.rootKey = keyOf(lstatSync(this.root, { bigint: true }));
    this.baseline(this.root);
  }

  /** Whether `path` (as /proc/self/fd names it) is `root` or below it. */
  holds(path: string): boolean {
    return path === this.root || path.startsWith(`${this.root}/`);
  }

  private baseline(p: string): void {
    const st = lstatSync(p, { bigint: true });
    if (st.isDirectory()) {
      this.syncDir(p);
      for (const n of readdirSync(p)) this.baseline(join(p, n));
    } else this.files.set(keyOf(st), readFileSync(p));
  }

  private syncDir(p: string): void {
    const m = new Map<string, { key: Key; dir: boolean }>();
    for (const n of readdirSync(p)) {
      const st = lstatSync(join(p, n), { bigint: true });
      m.set(n, { key: keyOf(st), dir: st.isDirectory() });
    }
    this.dirsSynced.set(keyOf(lstatSync(p, { bigint: true })), m);
  }

  /** The fsync hook to give the store: notes what `fd` holds now as durable (then fsyncs it, see `realFsync`). */
  fsync = (fd: number): void => {
    const p = readlinkSync(`/proc/self/fd/${fd}`);
    this.onFsync?.(p);
    const st = fstatSync(fd, { bigint: true });
    if (st.isDirectory()) { if (this.holds(p)) this.syncDir(p); }
    // Read through the descriptor's own link: it opens a file deleted since (its name then ends
    // in " (deleted)", and its entry may still come back) and one opened write-only.
    else if (this.holds(p)) this.files.set(keyOf(st), readFileSync(`/proc/self/fd/${fd}`));
    if (this.realFsync) fsyncSync(fd);
  };

  /** What a power loss now could leave, written to `dst`. */
  image(dst: string, mode: Mode): void {
    const current = new Map<Key, string>();
    const walk = (p: string): void => {
      const st = lstatSync(p, { bigint: true });
      current.set(keyOf(st), p);
      if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    };
    walk(this.root);
    const build = (key: Key, dst: string): void => {
      mkdirSync(dst, { recursive: true });
      for (const [name, e] of this.dirsSynced.get(key) ?? new Map<string, { key: Key; dir: boolean }>()) {
        const to = join(dst, name);
        if (e.dir) { build(e.key, to); continue; }
        const synced = this.files.get(e.key);
        const path = current.get(e.key);
        const cur = path !== undefined ? readFileSync(path) : null;
        if (synced !== undefined && (cur === null || synced.equals(cur))) { writeFileSync(to, synced); continue; }
        // Unsynced content (or none ever synced).
        if (synced !== undefined && cur !== null && cur.subarray(0, synced.length).equals(synced)) {
          // Appended to (a log segment, a spool file): the synced prefix, the tail per mode.
          const tail = mode === "zeros" ? Buffer.alloc(cur.length - synced.length) : mode === "current" ? cur.subarray(synced.length) : Buffer.alloc(0);
          writeFileSync(to, Buffer.concat([synced, tail]));
          continue;
        }
        // Cut short since its fsync (a torn tail truncated): the truncation may not have reached the disk.
        if (synced !== undefined && cur !== null && synced.subarray(0, cur.length).equals(cur)) { writeFileSync(to, synced); continue; }
        if (mode === "absent") continue;
        if (mode === "current" && cur !== null) writeFileSync(to, cur);
        else if (mode === "zeros") writeFileSync(to, Buffer.alloc(cur?.length ?? synced?.length ?? 0));
        else writeFileSync(to, Buffer.alloc(0));
      }
    };
    build(this.rootKey, dst);
  }
}
