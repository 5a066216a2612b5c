/**
 * A process SIGKILLed at each named step of the commit protocols (src/crashPoint.ts), on a real
 * cluster and broker: after a publish was confirmed and before its ack, after a record was logged
 * and before it was durable, after a snapshot was named and before the log it replaces was
 * deleted, and so on. For each, one session runs while the point is armed: the point must be
 * reached (a point never reached fails the test rather than pass it untried) in the process it
 * was armed for, that process is revived, and the session's results equal `coffee reference`
 * (nothing lost, nothing counted twice), or, for a session given up (an abort, a poison
 * message), every aggregator drops it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectBroker } from "../src/brokerAddress.ts";
import { encodeMessage } from "../src/codec.ts";
import { CRASH_POINTS, type CrashPointName } from "../src/crashPoint.ts";
import { pingHealth } from "../src/health.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { AMQP_URL, generate, readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir, until, type ClientRun, type TestCluster } from "./harness.ts";

setDefaultTimeout(120_000);

/** What a case checks besides exact results: that the crash fell where it matters. */
type Evidence =
  /** The client lost the gateway mid-session and resumed. */
  | "client-resumed"
  /** The revived aggregator rebuilt an open session from its log. */
  | "session-recovered"
  /** The revived aggregator published again chunks the gateway had stored, which it dropped. */
  | "chunks-republished"
  /** Nothing more: a crash after the client has what it needs must harm nothing (the last test runs a session on the revived process). */
  | "none";

/**
 * A crash point, the process it is armed for, and what shows the crash mattered. `first` is
 * armed with it for the same process, for a point reached only after a first crash (a resume,
 * a recovery): the revival dies again there. `beforeClient`: armed before the client starts.
 */
interface Case { point: CrashPointName; victim: string; shows: Evidence; first?: CrashPointName; beforeClient?: boolean }

/** Each point of a session that completes, for the process that reaches it in every session (or one of several that do). */
const CASES: readonly Case[] = [
  { point: "worker.output-confirmed", victim: "transactions-chain-1", shows: "none" },
  // After the client's bye: the gateway compacts its log only once no session is left, so this
  // case comes before those that leave one waiting out its TTL (session-durable, done-sent). The
  // next case's session runs on the revived gateway.
  { point: "wal.snapshot-named", victim: "gateway", shows: "none" },
  // The client never learnt its session's id: it starts another (the first waits out its TTL).
  { point: "gateway.session-durable", victim: "gateway", shows: "none", beforeClient: true },
  { point: "gateway.batch-confirmed", victim: "gateway", shows: "client-resumed" },
  { point: "gateway.resumed", first: "gateway.batch-confirmed", victim: "gateway", shows: "client-resumed" },
  { point: "gateway.eos-confirmed", victim: "gateway", shows: "client-resumed" },
  { point: "aggregator.applied", victim: "agg-q4", shows: "session-recovered" },
  { point: "aggregator.recovered", first: "aggregator.applied", victim: "agg-q4", shows: "session-recovered" },
  { point: "aggregator.spilled", victim: "agg-q1", shows: "session-recovered" },
  { point: "commit.durable", victim: "agg-q3", shows: "session-recovered" },
  { point: "commit.durable", victim: "gateway", shows: "client-resumed" },
  { point: "gateway.result-stored", victim: "gateway", shows: "client-resumed" },
  { point: "aggregator.result-chunk-confirmed", victim: "agg-q1", shows: "chunks-republished" },
  { point: "aggregator.result-confirmed", victim: "agg-q2", shows: "session-recovered" },
  { point: "aggregator.finished-durable", victim: "agg-q2", shows: "none" },
  { point: "gateway.result-sent", victim: "gateway", shows: "client-resumed" },
  { point: "gateway.done-sent", victim: "gateway", shows: "none" },
  { point: "wal.snapshot-named", victim: "agg-q3", shows: "none" },
];

/** The points of sessions given up, each tested on its own below. */
const ABORT_POINT: CrashPointName = "gateway.purge-durable";
const POISON_POINT: CrashPointName = "stage.failed-published";

interface Entry { name: string; pid: number; alive: boolean; healthPort: number }

describe("a crash at each named step", () => {
  let cluster: TestCluster;
  let data: string;
  let expected: Record<string, string>;
  let points: string;
  const dirs: string[] = [];
  /** Clients of the running case, stopped after it whatever its outcome. */
  const clients: ClientRun[] = [];

  /** coffee up's processes, as its cluster file says. */
  const entries = (): Entry[] => JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as Entry[];
  /** A process's health status, or null if it is down or does not answer. */
  const status = async (name: string): Promise<Record<string, unknown> | null> => {
    const e = entries().find((x) => x.name === name);
    return e?.alive ? ((await pingHealth("127.0.0.1", e.healthPort, 500))?.status ?? null) : null;
  };
  /** Which process fired `point`, from the name its armed file was renamed to; null if none yet. */
  const fired = (point: CrashPointName): { name: string; pid: number } | null => {
    for (const file of readdirSync(points)) {
      const m = /\.fired-by-(.+)-(\d+)$/.exec(file);
      if (m && file.startsWith(`${point}.fired-by-`)) return { name: m[1]!, pid: Number(m[2]) };
    }
    return null;
  };
  /** Armed by a rename, so no process reads the file half written. */
  const arm = (point: CrashPointName, victim: string): void => {
    writeFileSync(join(points, ".arming"), victim);
    renameSync(join(points, ".arming"), join(points, point));
  };
  /** A process's log so far. */
  const logOf = (name: string): string => readFileSync(join(cluster.stateDir, "logs", `${name}.log`), "utf8");
  /** A slow client into a fresh folder, stopped after the case if it still runs. */
  const client = (batchRows: number, window: number): ClientRun => {
    const out = tempDir("cpout");
    dirs.push(out);
    const run = slowClient(cluster.port, data, out, batchRows, window);
    clients.push(run);
    return run;
  };
  /** `point` fired in `victim` (waited for: a point after the results may fire after the client exits), which then ran again. */
  const firedAndRevived = async (point: CrashPointName, victim: string): Promise<{ pid: number }> => {
    const shot = await until(`${victim} to reach ${point}`, () => fired(point), 30_000);
    expect(shot.name).toBe(victim);
    // Revived: a new process of that name, answering its health check as running.
    await until(`${victim} revived`, async () => entries().some((e) => e.name === victim && e.alive && e.pid !== shot.pid) && (await status(victim))?.state === "running", 30_000);
    return shot;
  };
  /** A message for `session` that does not decode (its body cut short), put straight on `queue`: a poison message. */
  const poison = async (session: string, queue: string): Promise<void> => {
    const { conn } = await connectBroker({ url: AMQP_URL });
    try {
      const ch = await conn.createConfirmChannel();
      const whole = encodeMessage(q1TransactionsBatch(session, 10));
      ch.sendToQueue(`${cluster.namespace}.${queue}`, Buffer.from(whole.subarray(0, whole.length - 40)), { persistent: true });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
  };
  /** The id of the session the gateway started last (from its log). */
  const lastSession = (): string => [...logOf("gateway").matchAll(/session (\S+) started/g)].at(-1)![1]!;
  /** Every aggregator dropped the session (the purge reached them all). */
  const purgedEverywhere = async (id: string): Promise<void> => {
    for (const name of ["agg-q1", "agg-q2", "agg-q3", "agg-q4"]) await until(`${name} to purge ${id}`, () => logOf(name).includes(`session ${id} purged`), 60_000);
  };
  const count = (text: string, needle: string): number => text.split(needle).length - 1;

  beforeAll(async () => {
    points = tempDir("crashpoints");
    dirs.push(points);
    // Small result chunks, so that Q1's result is more chunks than an aggregator has in flight
    // (8): one is confirmed before the last is published. Small Q1 runs, so that a session's rows
    // go to disk in several. The gateway is killed eleven times within two minutes: the monitor's
    // default budget (10 revivals before it waits) would run out, and its backoff, up to 8 s
    // between them, would only slow the file down. Sessions left waiting for their client (the
    // orphan of session-durable, done-sent's) must not expire mid-file: their purges would be
    // others than the abort case's.
    const env = {
      COFFEE_CRASH_POINTS_DIR: points, COFFEE_CHUNK_BYTES: "1024", COFFEE_SPILL_ROWS: "50",
      COFFEE_REVIVE_MAX_ATTEMPTS: "100", COFFEE_REVIVE_MAX_MS: "1000", COFFEE_SESSION_TTL_S: "3600",
    };
    cluster = await startCluster({ tag: "crashpt", env });
    data = tempDir("cpdata");
    dirs.push(data);
    await generate(data, 91, ["--months", "2024-11..2024-12", "--transactions-per-month", "5000", "--users", "500"]);
    expected = await reference(data);
    expect(expected.q1!.length).toBeGreaterThan(9 * 1024);
  });

  afterEach(async () => {
    // Also after a failed case, whose point may still be armed and whose client may still run.
    for (const f of readdirSync(points)) rmSync(join(points, f));
    for (const run of clients.splice(0)) {
      try {
        process.kill(run.pid, "SIGKILL");
      } catch {
        // exited already
      }
      await run.finished;
    }
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("every crash point is exercised below", () => {
    const covered = [...CASES.flatMap((c) => (c.first ? [c.point, c.first] : [c.point])), ABORT_POINT, POISON_POINT];
    expect(new Set(covered)).toEqual(new Set(Object.keys(CRASH_POINTS) as CrashPointName[]));
  });

  for (const { point, victim, shows, first, beforeClient } of CASES) {
    test(`${victim} killed at ${first ? `${first}, then its revival at ` : ""}${point} (${CRASH_POINTS[point]}): revived, results exact`, async () => {
      const gatewayBefore = await status("gateway");
      expect(gatewayBefore).not.toBeNull();
      const duplicatesBefore = Number(gatewayBefore!.duplicateChunks);
      // `point` first: it cannot be reached before `first` fired.
      const armAll = (): void => {
        arm(point, victim);
        if (first) arm(first, victim);
      };
      if (beforeClient) armAll();
      const run = client(40, 4);
      await run.underWay;
      if (!beforeClient) armAll();
      const r = await run.finished;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      const firstShot = first ? await until(`${victim} to reach ${first}`, () => fired(first), 30_000) : null;
      const shot = await firedAndRevived(point, victim);
      // The second crash was the revival's, not the first process's (reached by a resume of its own, say).
      if (firstShot) expect(shot.pid).not.toBe(firstShot.pid);
      if (shows === "client-resumed") expect(r.stdout).toMatch(/resumed session/);
      if (shows === "session-recovered") {
        const recovered = [...logOf(victim).matchAll(/recovered \d+ log records \((\d+) open sessions/g)];
        expect(Number(recovered.at(-1)![1])).toBeGreaterThanOrEqual(1);
      }
      if (shows === "chunks-republished") {
        await until("the gateway to drop the republished chunks", async () => Number((await status("gateway"))?.duplicateChunks ?? 0) > duplicatesBefore, 30_000);
      }
    });
  }

  test(`gateway killed at ${ABORT_POINT} (${CRASH_POINTS[ABORT_POINT]}) after a client's abort: the revival publishes the purge, every aggregator drops the session`, async () => {
    const run = client(20, 2);
    await run.underWay;
    const id = lastSession();
    arm(ABORT_POINT, "gateway");
    process.kill(run.pid, "SIGINT");
    const r = await run.finished;
    expect(r.code).toBe(130);
    await firedAndRevived(ABORT_POINT, "gateway");
    // The purge logged before the crash is this session's, and the revived gateway published it from its log.
    const log = logOf("gateway");
    const purged = log.indexOf(`session ${id} purged: its client gave it up`);
    expect(purged).toBeGreaterThan(-1);
    expect(log.slice(purged)).toContain("publishing 1 purge(s) the broker had not confirmed before the restart");
    await purgedEverywhere(id);
  });

  test(`agg-q1 killed at ${POISON_POINT} (${CRASH_POINTS[POISON_POINT]}) for a poison message: it comes back, the session fails once and is dropped everywhere`, async () => {
    const run = client(20, 2);
    await run.underWay;
    const id = lastSession();
    arm(POISON_POINT, "agg-q1");
    await poison(id, "agg-q1");
    const r = await run.finished;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("PIPELINE_FAILED");
    await firedAndRevived(POISON_POINT, "agg-q1");
    await purgedEverywhere(id);
    // Unacked when agg-q1 died, the message came back to its revival, which reported it again;
    // the gateway ended the session once.
    expect(count(logOf("agg-q1"), `dropping undecodable message of session ${id}`)).toBe(2);
    expect(count(logOf("gateway"), `session ${id} purged`)).toBe(1);
  });

  test("after all of them, a session on the revived cluster is exact", async () => {
    const r = await client(500, 8).finished;
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    expect(entries().every((e) => e.alive)).toBe(true);
  });
});
