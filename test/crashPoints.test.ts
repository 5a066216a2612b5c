/**
 * A process SIGKILLed at each named step of the commit protocols (src/crashPoint.ts), on a real
 * cluster and broker: after a publish was confirmed and before its ack, after a record was logged
 * and before it was durable, after a snapshot was named and before the log it replaces was
 * deleted. For each, one session runs across the crash: the point must be reached (a point never
 * reached fails the test rather than pass it untried), the process is revived, and the session's
 * results equal `coffee reference`: nothing lost, nothing counted twice.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CRASH_POINTS, type CrashPointName } from "../src/crashPoint.ts";
import { pingHealth } from "../src/health.ts";
import { connectBroker } from "../src/brokerAddress.ts";
import { encodeMessage } from "../src/codec.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { AMQP_URL, generate, readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir, until, type TestCluster } from "./harness.ts";

setDefaultTimeout(120_000);

/** What a case checks besides exact results: that the crash fell where it matters. */
type Expectation =
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
interface Case { point: CrashPointName; victim: string; expect: Expectation; first?: CrashPointName; beforeClient?: boolean }

/** Each point of a session that completes, for the process that reaches it in every session (or one of several that do). */
const CASES: readonly Case[] = [
  { point: "worker.output-confirmed", victim: "transactions-chain-1", expect: "none" },
  // After the client's bye: the gateway compacts its log once no session is left, so before any
  // case that leaves a session waiting out its TTL (session-durable, done-sent, the abort). The
  // next case's session runs on the revived gateway.
  { point: "wal.snapshot-named", victim: "gateway", expect: "none" },
  // The client never learnt its session's id: it starts another (the first waits out its TTL).
  { point: "gateway.session-durable", victim: "gateway", expect: "none", beforeClient: true },
  { point: "gateway.batch-confirmed", victim: "gateway", expect: "client-resumed" },
  { point: "gateway.resumed", first: "gateway.batch-confirmed", victim: "gateway", expect: "client-resumed" },
  { point: "gateway.eos-confirmed", victim: "gateway", expect: "client-resumed" },
  { point: "aggregator.applied", victim: "agg-q4", expect: "session-recovered" },
  { point: "aggregator.recovered", first: "aggregator.applied", victim: "agg-q4", expect: "session-recovered" },
  { point: "aggregator.spilled", victim: "agg-q1", expect: "session-recovered" },
  { point: "commit.durable", victim: "agg-q3", expect: "session-recovered" },
  { point: "commit.durable", victim: "gateway", expect: "client-resumed" },
  { point: "gateway.result-stored", victim: "gateway", expect: "client-resumed" },
  { point: "aggregator.result-chunk-confirmed", victim: "agg-q1", expect: "chunks-republished" },
  { point: "aggregator.result-confirmed", victim: "agg-q2", expect: "session-recovered" },
  { point: "aggregator.finished-durable", victim: "agg-q2", expect: "none" },
  { point: "gateway.result-sent", victim: "gateway", expect: "client-resumed" },
  { point: "gateway.done-sent", victim: "gateway", expect: "none" },
  { point: "wal.snapshot-named", victim: "agg-q3", expect: "none" },
];

interface Entry { name: string; pid: number; alive: boolean; healthPort: number }

describe("a crash at each named step", () => {
  let cluster: TestCluster;
  let data: string;
  let expected: Record<string, string>;
  const points = tempDir("crashpoints");
  const dirs: string[] = [points];

  const entries = (): Entry[] => JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as Entry[];
  const status = async (name: string): Promise<Record<string, unknown> | null> => {
    const e = entries().find((x) => x.name === name);
    return e?.alive ? ((await pingHealth("127.0.0.1", e.healthPort, 500))?.status ?? null) : null;
  };
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
  const logOf = (name: string): string => readFileSync(join(cluster.stateDir, "logs", `${name}.log`), "utf8");

  beforeAll(async () => {
    // Small result chunks, so that Q1's result is more chunks than an aggregator has in flight
    // (8): one is confirmed before the last is published. Small Q1 runs, so that a session's
    // rows go to disk in several. The gateway is killed a dozen times within two minutes: the
    // monitor's revival budget must not run out meanwhile.
    cluster = await startCluster({ tag: "crashpt", env: { COFFEE_CRASH_POINTS_DIR: points, COFFEE_CHUNK_BYTES: "1024", COFFEE_SPILL_ROWS: "50", COFFEE_REVIVE_MAX_ATTEMPTS: "100", COFFEE_REVIVE_MAX_MS: "1000" } });
    data = tempDir("cpdata");
    dirs.push(data);
    await generate(data, 91, ["--months", "2024-11..2024-12", "--transactions-per-month", "5000", "--users", "500"]);
    expected = await reference(data);
    expect(expected.q1!.length).toBeGreaterThan(9 * 1024);
  });

  afterEach(() => {
    // Also after a failed case, whose point may still be armed.
    for (const f of readdirSync(points)) rmSync(join(points, f));
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** `point` fired in `victim` (waited for: a point after the results may fire after the client exits), which then ran again. */
  const firedAndRevived = async (point: CrashPointName, victim: string): Promise<void> => {
    const shot = await until(`${victim} to reach ${point}`, () => fired(point), 30_000);
    expect(shot.name).toBe(victim);
    // Revived: a new process of that name, answering its health check as running.
    await until(`${victim} revived`, async () => entries().some((e) => e.name === victim && e.alive && e.pid !== shot.pid) && (await status(victim))?.state === "running", 30_000);
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

  test("every crash point is exercised below", () => {
    const covered = [...CASES.flatMap((c) => (c.first ? [c.point, c.first] : [c.point])), "gateway.purge-durable", "stage.failed-published"];
    expect(new Set(covered)).toEqual(new Set(Object.keys(CRASH_POINTS) as CrashPointName[]));
  });

  for (const { point, victim, expect: what, first, beforeClient } of CASES) {
    test(`${victim} killed at ${first ? `${first}, then its revival at ` : ""}${point} (${CRASH_POINTS[point]}): revived, results exact`, async () => {
      const out = tempDir("cpout");
      dirs.push(out);
      const duplicatesBefore = Number((await status("gateway"))?.duplicateChunks ?? 0);
      const armAll = (): void => {
        if (first) arm(first, victim);
        arm(point, victim);
      };
      if (beforeClient) armAll();
      const run = slowClient(cluster.port, data, out, 40, 4);
      await run.underWay;
      if (!beforeClient) armAll();
      const r = await run.finished;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      if (first) await until(`${victim} to reach ${first}`, () => fired(first), 30_000);
      await firedAndRevived(point, victim);
      if (what === "client-resumed") expect(r.stdout).toMatch(/resumed session/);
      if (what === "session-recovered") {
        const recovered = [...logOf(victim).matchAll(/recovered \d+ log records \((\d+) open sessions/g)];
        expect(Number(recovered.at(-1)![1])).toBeGreaterThanOrEqual(1);
      }
      if (what === "chunks-republished") {
        await until("the gateway to drop the republished chunks", async () => Number((await status("gateway"))?.duplicateChunks ?? 0) > duplicatesBefore, 30_000);
      }
    });
  }

  test("gateway killed with a client's abort durable and its purge not yet published: the revival publishes it, every aggregator drops the session", async () => {
    const out = tempDir("cpout");
    dirs.push(out);
    const run = slowClient(cluster.port, data, out, 20, 2);
    await run.underWay;
    const id = lastSession();
    arm("gateway.purge-durable", "gateway");
    process.kill(run.pid, "SIGINT");
    const r = await run.finished;
    expect(r.code).toBe(130);
    await firedAndRevived("gateway.purge-durable", "gateway");
    // By the revived gateway, from its log: the purge was never published before the crash.
    expect(logOf("gateway")).toMatch(/publishing 1 purge\(s\) the broker had not confirmed before the restart/);
    await purgedEverywhere(id);
  });

  test("an aggregator killed once its report of a poison message is confirmed, before acking the message: the session fails once, and is dropped everywhere", async () => {
    const out = tempDir("cpout");
    dirs.push(out);
    const run = slowClient(cluster.port, data, out, 20, 2);
    await run.underWay;
    const id = lastSession();
    arm("stage.failed-published", "agg-q1");
    await poison(id, "agg-q1");
    const r = await run.finished;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("PIPELINE_FAILED");
    await firedAndRevived("stage.failed-published", "agg-q1");
    await purgedEverywhere(id);
  });

  test("after all of them, a session on the revived cluster is exact", async () => {
    const out = tempDir("cpout");
    dirs.push(out);
    const r = await slowClient(cluster.port, data, out, 500, 8).finished;
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    expect(entries().every((e) => e.alive)).toBe(true);
  });
});
