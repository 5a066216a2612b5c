/**
 * A power loss at every fsync of the gateway's store (src/gatewayStore.ts: its log and its result
 * spool), simulated with src/powerLossDisk.ts: at each fsync the test writes what a machine that
 * lost power right then could leave (a file's content only as of its last fsync, a folder's
 * entries only as of its last fsync; what was never synced empty, zeros or gone, per mode),
 * recovers each such image, loses power again at every fsync of that recovery and of the first
 * turns after it, and recovers those too. Each recovered store must be exactly what the log's
 * records up to some point make it, no earlier than what a commit had acked and no later than what
 * was logged: every acked session and chunk there with exactly its text (each chunk read back
 * through its CRC, so a spool chunk a durable record points at but the disk lost is caught,
 * whether its file is gone, shorter, or zeros), nothing never logged, no session damaged, a purge
 * not confirmed still pending, a failure still told, no spool file of a session the log does not
 * hold. It then runs the rest of the workload, reopens, reads everything back, closes what is left,
 * and must end with no spool file and a compacted log.
 *
 * The workload is the gateway's (roles/gateway.ts, src/gatewaySessions.ts, src/resultRelay.ts):
 * interleaved sessions opened, given result chunks as they arrive, acked once a group commit made
 * them durable, closed after their client's bye (then compacted), purged after a failure or the
 * TTL (pending until the broker's confirm, then compacted). Snapshots: the log is compacted when
 * nothing is open (twice, and at the end), and once with live sessions holding spool refs, after
 * a burst of short sessions takes it past SNAPSHOT_EVERY records.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ErrorCode } from "./errors.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { GroupCommit } from "./groupCommit.ts";
import { Disk, type Mode } from "./powerLossDisk.ts";
import type { QueryName } from "./schema.ts";

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), "coffee-gwpl-")); dirs.push(d); return d; };
/** Images are removed once checked: thousands of folders left to the end make afterAll slow. */
const removeDir = (d: string): void => rmSync(d, { recursive: true, force: true });

/** One call the gateway makes on its store. */
type Op =
  | { k: "open"; id: string; keyHash?: string }
  | { k: "chunk"; id: string; query: QueryName; chunk: number; last: boolean; csv: string }
  | { k: "close"; id: string }
  | { k: "purge"; id: string; reason: string }
  | { k: "purged"; id: string }
  | { k: "failed"; id: string; code: ErrorCode; message: string };

/**
 * The calls one turn of the gateway's event loop makes, then a group.after (their ack). `then`:
 * "ack", the next turn comes once they are acked (a client waiting for its welcome, a result
 * waiting for its ack); a number, it comes after that many turns of the loop, while their commit
 * (its fsyncs) may be under way: results arrive whenever they do.
 */
interface Turn { ops: Op[]; then: "ack" | number }

/** Session ids are UUIDs (the spool refuses anything else as a file name). */
const sid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const A = sid(0xa), B = sid(0xb), C = sid(0xc), D = sid(0xd), E = sid(0xe), F = sid(0xf), G = sid(0x10);
/** Far off: a failure kept must not expire while the test runs (a snapshot drops expired ones). */
const UNTIL_MS = Date.now() + 86_400_000;

/** A chunk's text: of varying length, with multibyte characters (refs are byte ranges). */
const csvOf = (id: string, query: QueryName, chunk: number): string => {
  const rows = 1 + ((chunk * 3 + parseInt(id.slice(-4), 16)) % 5);
  return `${query},☕ total\n` + Array.from({ length: rows }, (_, i) => `${id.slice(-2)}-${chunk}-${i},Café ${i * 7 + chunk}.50\n`).join("");
};
const open = (id: string, keyHash?: string): Op => (keyHash === undefined ? { k: "open", id } : { k: "open", id, keyHash });
const chunk = (id: string, query: QueryName, n: number, last = false): Op => ({ k: "chunk", id, query, chunk: n, last, csv: csvOf(id, query, n) });
const close = (id: string): Op => ({ k: "close", id });
const purge = (id: string, reason: string): Op => ({ k: "purge", id, reason });
const purged = (id: string): Op => ({ k: "purged", id });
const turn = (then: "ack" | number, ...ops: Op[]): Turn => ({ ops, then });

/** A burst of short sessions (opened and closed at once): past SNAPSHOT_EVERY (5,000) records with live sessions open. */
const BURST: Op[] = Array.from({ length: 2_500 }, (_, i) => [open(sid(0x1000 + i)), close(sid(0x1000 + i))]).flat();

const SCRIPT: Turn[] = [
  // Three sessions, results arriving interleaved; one fails (its purge pending until confirmed).
  turn("ack", open(A, "key-a"), open(B, "key-b")),
  turn(2, chunk(A, "q1", 0), chunk(B, "q2", 0)),
  // During the fsyncs of A's and B's chunks: B's file takes more.
  turn("ack", open(C, "key-c"), chunk(B, "q2", 1, true)),
  // A stage failed B: kept for its client, then purged (src/gatewaySessions.ts failed → purge).
  turn("ack", { k: "failed", id: B, code: "PIPELINE_FAILED", message: "a stage could not process it" }, purge(B, "PIPELINE_FAILED")),
  // Short sessions take the log past SNAPSHOT_EVERY: their closes compact it with A holding spool
  // refs (and appending after them), C open, B's purge pending and its failure kept.
  turn("ack", ...BURST),
  turn(3, chunk(A, "q1", 1), chunk(C, "q3", 0, true)),
  turn("ack", chunk(A, "q1", 2, true), chunk(A, "q4", 0, true)),
  turn("ack", close(A)),
  turn(1, chunk(C, "q1", 0, true)),
  turn(1, purged(B)),
  // Nothing open, no purge pending: compacted.
  turn("ack", close(C)),
  // Three more, interleaved, one purged at its TTL while the others go on.
  turn("ack", open(D), open(E, "key-e"), open(F)),
  turn("ack", chunk(D, "q1", 0), chunk(E, "q1", 0)),
  turn(2, chunk(D, "q2", 0, true), chunk(E, "q2", 0)),
  // During the fsyncs of D's and E's files (none new): F's first chunk, a new file.
  turn(3, chunk(F, "q3", 0), chunk(D, "q1", 1, true)),
  turn("ack", purge(E, "TTL_EXPIRED"), chunk(F, "q3", 1, true)),
  turn("ack", close(D)),
  turn(2, chunk(F, "q1", 0, true), chunk(F, "q2", 0, true)),
  turn(1, purged(E)),
  // Compacted again (nothing open), then one more session left open at the end.
  turn("ack", close(F)),
  turn(1, open(G, "key-g")),
  turn(2, chunk(G, "q1", 0), chunk(G, "q1", 1)),
  turn("ack", chunk(G, "q1", 2, true), chunk(G, "q2", 0, true)),
];
const OPS: Op[] = SCRIPT.flatMap((t) => t.ops);
/** Each turn's ops as indices into OPS: [start, end). */
const TURNS: { start: number; end: number; then: "ack" | number }[] = [];
for (let at = 0, i = 0; i < SCRIPT.length; i++) {
  const t = SCRIPT[i]!;
  TURNS.push({ start: at, end: at + t.ops.length, then: t.then });
  at += t.ops.length;
}
const IDS = [...new Set(OPS.map((o) => o.id))];

/** A store's state, as text to compare: sessions (with their chunks' texts), pending purges, failures. */
interface State {
  sessions: Map<string, { keyHash: string | null; chunks: [QueryName, number, boolean, string][] }>;
  purges: Map<string, string>;
  failures: Map<string, [ErrorCode, string, number, string | null]>;
}
const textOf = (s: State): string => JSON.stringify({
  sessions: [...s.sessions].sort(([a], [b]) => a.localeCompare(b)),
  purges: [...s.purges].sort(([a], [b]) => a.localeCompare(b)),
  failures: [...s.failures].sort(([a], [b]) => a.localeCompare(b)),
});

/** FOLDS[k]: the state the first k ops make (src/gatewayStore.ts apply, restated). */
const FOLDS: string[] = [];
{
  const s: State = { sessions: new Map(), purges: new Map(), failures: new Map() };
  FOLDS.push(textOf(s));
  for (const op of OPS) {
    switch (op.k) {
      case "open": if (!s.sessions.has(op.id)) s.sessions.set(op.id, { keyHash: op.keyHash ?? null, chunks: [] }); break;
      case "chunk": s.sessions.get(op.id)?.chunks.push([op.query, op.chunk, op.last, op.csv]); break;
      case "close": s.sessions.delete(op.id); break;
      case "purge": s.sessions.delete(op.id); s.purges.set(op.id, op.reason); break;
      case "purged": s.purges.delete(op.id); break;
      case "failed": s.failures.set(op.id, [op.code, op.message, UNTIL_MS, s.sessions.get(op.id)?.keyHash ?? null]); break;
    }
    FOLDS.push(textOf(s));
  }
}
const END = OPS.length;

/** What `store` holds, every chunk's text read back (a read that fails shows as its error). */
function stateOf(store: GatewayStore): string {
  const s: State = { sessions: new Map(), purges: new Map(store.pendingPurges), failures: new Map() };
  for (const [id, st] of store.sessions) {
    s.sessions.set(id, {
      keyHash: st.keyHash ?? null,
      chunks: st.chunks.map((c) => {
        let text: string;
        try {
          text = store.chunkText(id, c);
        } catch (err) {
          text = `(unreadable: ${String(err)})`;
        }
        return [c.query, c.chunk, c.last, text];
      }),
    });
  }
  const now = Date.now();
  for (const id of IDS) {
    const f = store.failure(id, now);
    if (f) s.failures.set(id, [f.code, f.message, f.untilMs, f.keyHash ?? null]);
  }
  return textOf(s);
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The store's fsync hook: the Disk notes it, then the event loop runs on while it "works" (two turns), as on Bun's thread pool. */
const slowly = (disk: Disk) => async (fd: number): Promise<void> => {
  disk.fsync(fd);
  await tick();
  await tick();
};

/** The gateway's use of its store (src/gatewaySessions.ts, src/resultRelay.ts), from op `from` of OPS on. */
class Gateway {
  /** Ops done (their state is FOLDS[done] in memory), and ops a group commit acked. */
  done: number;
  acked: number;
  readonly errors: unknown[] = [];
  private readonly group: GroupCommit;
  private readonly background: Promise<void>[] = [];
  private readonly failed: Promise<never>;

  constructor(readonly store: GatewayStore, from: number) {
    this.done = from;
    this.acked = from;
    let fail: (err: unknown) => void = () => {};
    this.failed = new Promise<never>((_, reject) => (fail = reject));
    this.failed.catch(() => {});
    // A failed commit stops the group for good: what waits on it must not hang the test.
    this.group = new GroupCommit(() => store.commit(), (err) => { this.errors.push(err); fail(err); });
  }

  /** Play OPS up to `to`, turn by turn. */
  async play(to: number): Promise<void> {
    for (const t of TURNS) {
      if (t.end <= this.done || t.start >= to) continue;
      let closes = false;
      for (const end = Math.min(t.end, to); this.done < end; this.done++) {
        const op = OPS[this.done]!;
        closes ||= op.k === "close";
        this.apply(op);
      }
      const n = this.done;
      this.group.after(() => (this.acked = Math.max(this.acked, n)));
      // A retired session compacts after its close is durable (GatewaySessions.retire).
      if (closes) this.group.after(() => this.compact());
      if (t.then === "ack") await Promise.race([new Promise<void>((r) => this.group.after(r)), this.failed]);
      else for (let i = 0; i < t.then; i++) await tick();
    }
  }

  /** Everything logged committed, every compaction asked for done. */
  async settle(): Promise<void> {
    await Promise.race([this.group.now(), this.failed]);
    await Promise.all(this.background);
    expect(this.errors).toEqual([]);
  }

  private apply(op: Op): void {
    const { store } = this;
    switch (op.k) {
      case "open": return store.open(op.id, op.keyHash);
      case "chunk": {
        const added = store.addChunk(op.id, { query: op.query, chunk: op.chunk, last: op.last, csv: op.csv });
        if (added === null) this.errors.push(`chunk ${op.query}#${op.chunk} of ${op.id}: unknown session`);
        return;
      }
      case "close": return store.close(op.id);
      case "purge": return store.purge(op.id, op.reason);
      case "purged":
        // The broker confirmed the purge message: noted (committed with whatever comes next), then compacted.
        store.purgeConfirmed(op.id);
        return this.compact();
      case "failed": return store.failed(op.id, op.code, op.message, UNTIL_MS);
    }
  }

  private compact(): void {
    this.background.push(this.store.maybeSnapshot().catch((err: unknown) => void this.errors.push(err)));
  }
}

/** A power-loss image, with the ops acked and the ops done when it was taken, and a hash of what it holds. */
interface Image { dir: string; acked: number; done: number; hash: string }

/** A hash of every folder and file (name and content) under `dir`. */
function hashTree(dir: string): string {
  const h = new Bun.CryptoHasher("sha1");
  const walk = (p: string, rel: string): void => {
    for (const n of readdirSync(p).sort()) {
      const q = join(p, n);
      if (statSync(q).isDirectory()) {
        h.update(`d ${rel}/${n}\n`);
        walk(q, `${rel}/${n}`);
      } else h.update(`f ${rel}/${n} ${statSync(q).size}\n`).update(readFileSync(q));
    }
  };
  walk(dir, "");
  return h.digest("hex");
}

/**
 * Write the image a power loss now leaves to `dst` and add it to `images`, unless it is the same
 * as the one before (an fsync that made nothing new durable): then that one stands for both, its
 * state bound by both (at least what was acked by now, at most what was done by then). Thousands
 * of recoveries fewer, nothing less checked.
 */
function capture(disk: Disk, mode: Mode, dst: string, images: Image[], acked: number, done: number): void {
  disk.image(dst, mode);
  const hash = hashTree(dst);
  const last = images.at(-1);
  if (last?.hash === hash) {
    last.acked = acked;
    removeDir(dst);
    return;
  }
  dirs.push(dst);
  images.push({ dir: dst, acked, done, hash });
}

/** The end of the turn `turns` turns after the one op `at` is in (the ops a deeper power loss is tried in). */
const turnsAfter = (at: number, turns: number): number => {
  const i = TURNS.findIndex((t) => t.end > at);
  return i < 0 ? END : (TURNS[Math.min(i + turns, TURNS.length - 1)]?.end ?? END);
};
/** Power losses one level down are tried during the recovery and this many turns after it. */
const DEEP_TURNS = 2;

/** Spool files in `dir`, as session ids. */
const spooled = (dir: string): string[] => readdirSync(join(dir, "results")).map((n) => n.replace(/\.chunks$/, ""));

/**
 * Recover `im`, check it, run the rest of the workload on it (power losses at each fsync of the
 * recovery and the first turns after it, when `depth` is 0), reopen, finish, and do the same for
 * each of those power losses. Returns the images checked.
 */
async function verify(im: Image, mode: Mode, depth: number): Promise<number> {
  const disk = new Disk(im.dir, false);
  const images: Image[] = [];
  let gw: Gateway | null = null;
  let capturing = depth === 0;
  disk.onFsync = (path) => {
    // During recovery what is durable is what the image held: somewhere in [acked, done].
    if (capturing && disk.holds(path)) capture(disk, mode, `${im.dir}-r${images.length}`, images, gw?.acked ?? im.acked, gw?.done ?? im.done);
  };
  const where = `${im.dir} (acked ${im.acked}, done ${im.done} of ${END} ops)`;
  const store = await GatewayStore.open(im.dir, undefined, slowly(disk));
  // A power loss is no damage: a spool chunk a durable record points at was made durable first.
  expect([...store.damaged.values()], where).toEqual([]);
  const got = stateOf(store);
  // The log's records up to some point: at least what was acked, at most what was logged.
  let k = -1;
  for (let i = im.done; i >= im.acked; i--) if (FOLDS[i] === got) { k = i; break; }
  if (k < 0) expect(got, `${where}: not the state of any op from ${im.acked} to ${im.done}`).toBe(FOLDS[im.acked]!);
  // Files of sessions the log does not hold (closed, purged, never durably opened) are gone.
  for (const id of spooled(im.dir)) expect(store.sessions.has(id), `${where}: spool file of ${id}`).toBe(true);

  gw = new Gateway(store, k);
  await gw.play(turnsAfter(k, DEEP_TURNS));
  capturing = false;
  await gw.play(END);
  await gw.settle();
  expect(stateOf(store), where).toBe(FOLDS[END]!);
  await store.shutdown();

  // Reopened, it reads everything back, takes more, and ends with nothing left behind.
  const again = await GatewayStore.open(im.dir, undefined, disk.fsync);
  expect([...again.damaged.values()], where).toEqual([]);
  expect(stateOf(again), where).toBe(FOLDS[END]!);
  expect(again.addChunk(G, { query: "q3", chunk: 0, last: true, csv: csvOf(G, "q3", 0) }), where).not.toBeNull();
  await again.commit();
  expect(again.chunks(G).map((c) => again.chunkText(G, c)).at(-1)).toBe(csvOf(G, "q3", 0));
  for (const id of [...again.sessions.keys()]) again.close(id);
  await again.commit();
  await again.maybeSnapshot();
  expect(spooled(im.dir), where).toEqual([]);
  expect(readdirSync(im.dir).filter((n) => n.startsWith("wal-")), `${where}: compacted`).toEqual([]);
  await again.shutdown();

  let n = 1;
  for (const sub of images) {
    n += await verify(sub, mode, depth + 1);
    removeDir(sub.dir);
  }
  return n;
}

/**
 * Run the workload on a store in a new folder, a power loss imaged at each fsync, then check each
 * image (verify). `noSpoolFolder`: the first turn is written before, by a store whose state
 * folder is then left without its results folder, as a gateway from before the spool left it:
 * the spool's folder is then made where a log already is, and its entry must be made durable
 * by the spool itself (a fresh start has the log's first segment do it anyway).
 */
async function powerLosses(mode: Mode, noSpoolFolder: boolean): Promise<void> {
  const dir = tempDir();
  let from = 0;
  if (noSpoolFolder) {
    const before = await GatewayStore.open(dir);
    const first = new Gateway(before, 0);
    await first.play(TURNS[0]!.end);
    await first.settle();
    await before.shutdown();
    rmSync(join(dir, "results"), { recursive: true });
    from = TURNS[0]!.end;
  }
  const disk = new Disk(dir, false);
  const images: Image[] = [];
  let gw: Gateway | null = null;
  /** Sessions each snapshot holds: the workload must compact both with none and with some. */
  const snapshots: number[] = [];
  disk.onFsync = (path) => {
    if (!disk.holds(path)) return;
    // A snapshot's lsn is its op count (each op here logs one record).
    const snapshot = /snapshot-(\d+)\.bin\.tmp$/.exec(path);
    if (snapshot) snapshots.push((JSON.parse(FOLDS[Number(snapshot[1])] ?? "null") as { sessions: unknown[] }).sessions.length);
    capture(disk, mode, `${dir}-img${images.length}`, images, gw?.acked ?? from, gw?.done ?? from);
  };
  const store = await GatewayStore.open(dir, undefined, slowly(disk));
  expect(stateOf(store)).toBe(FOLDS[from]!);
  gw = new Gateway(store, from);
  await gw.play(END);
  await gw.settle();
  expect(stateOf(store)).toBe(FOLDS[END]!);
  await store.shutdown();
  expect(snapshots.filter((n) => n === 0).length).toBeGreaterThanOrEqual(2);
  expect(snapshots.filter((n) => n > 0).length).toBeGreaterThanOrEqual(1);
  let checked = 0;
  for (const im of images) {
    checked += await verify(im, mode, 0);
    removeDir(im.dir);
  }
  expect(checked).toBeGreaterThan(images.length);
}

// "current" (unsynced files kept whole) is what a process crash leaves: the crash tests' case.
for (const mode of ["empty", "zeros", "absent"] as Mode[]) {
  test(`gateway store: a power loss at any fsync, during the run or its recovery, loses nothing acked and invents nothing (unsynced files: ${mode})`, () => powerLosses(mode, false), 600_000);
}
// One mode is enough here: a folder entry never synced is lost in every mode.
test("gateway store: the same from a state folder without its results folder (a gateway from before the spool)", () => powerLosses("absent", true), 600_000);
