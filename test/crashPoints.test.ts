/**
 * A process SIGKILLed at each named step of the commit protocols (src/crashPoint.ts), on a real
 * cluster and broker: after a publish was confirmed and before its ack, after a record was logged
 * and before it was durable, after a snapshot was named and before the log it replaces was
 * deleted. For each, one session runs across the crash: the point must be reached (a point never
 * reached fails the test rather than pass it untried), the process is revived, and the session's
 * results equal `coffee reference`: nothing lost, nothing counted twice.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CRASH_POINTS, type CrashPointName } from "../src/crashPoint.ts";
import { generate, readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir, until, type TestCluster } from "./harness.ts";

setDefaultTimeout(120_000);

/** Each point once, for the process that reaches it in every session (or one of several that do). */
const CASES: readonly { point: CrashPointName; victim: string }[] = [
  { point: "worker.output-confirmed", victim: "transactions-chain-1" },
  { point: "gateway.batch-confirmed", victim: "gateway" },
  { point: "gateway.eos-confirmed", victim: "gateway" },
  // After the client's bye: the gateway compacts its log once no session is left (so before the
  // done-sent case, whose client's bye may be lost, which keeps its session for the TTL). The
  // next case's session runs on the revived gateway.
  { point: "wal.snapshot-named", victim: "gateway" },
  { point: "aggregator.applied", victim: "agg-q4" },
  { point: "commit.durable", victim: "agg-q3" },
  { point: "commit.durable", victim: "gateway" },
  { point: "gateway.result-stored", victim: "gateway" },
  { point: "aggregator.result-chunk-confirmed", victim: "agg-q1" },
  { point: "aggregator.result-confirmed", victim: "agg-q2" },
  { point: "gateway.result-sent", victim: "gateway" },
  { point: "gateway.done-sent", victim: "gateway" },
  { point: "wal.snapshot-named", victim: "agg-q3" },
];

interface Entry { name: string; pid: number; alive: boolean }

describe("a crash at each named step", () => {
  let cluster: TestCluster;
  let data: string;
  let expected: Record<string, string>;
  const points = tempDir("crashpoints");
  const dirs: string[] = [points];

  const entries = (): Entry[] => JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as Entry[];
  const fired = (point: CrashPointName): { name: string; pid: number } | null => {
    for (const file of readdirSync(points)) {
      const m = /\.fired-by-(.+)-(\d+)$/.exec(file);
      if (m && file.startsWith(`${point}.fired-by-`)) return { name: m[1]!, pid: Number(m[2]) };
    }
    return null;
  };

  beforeAll(async () => {
    // Small result chunks, so a result is several chunks and one can be confirmed before the rest.
    cluster = await startCluster({ tag: "crashpt", env: { COFFEE_CRASH_POINTS_DIR: points, COFFEE_CHUNK_BYTES: "1024" } });
    data = tempDir("cpdata");
    dirs.push(data);
    await generate(data, 91, ["--months", "2024-11..2024-12", "--transactions-per-month", "1500", "--users", "300"]);
    expected = await reference(data);
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("every crash point is exercised below", () => {
    expect(new Set(CASES.map((c) => c.point))).toEqual(new Set(Object.keys(CRASH_POINTS) as CrashPointName[]));
  });

  for (const { point, victim } of CASES) {
    test(`${victim} killed at ${point} (${CRASH_POINTS[point]}): revived, results exact`, async () => {
      const out = tempDir("cpout");
      dirs.push(out);
      const run = slowClient(cluster.port, data, out, 40, 4);
      await run.underWay;
      writeFileSync(join(points, point), victim);
      const r = await run.finished;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      // Points after the results (the gateway's compaction after the bye) may fire just after the client exits.
      const shot = await until(`${victim} to reach ${point}`, () => fired(point), 30_000);
      expect(shot.name).toBe(victim);
      await until(`${victim} revived`, () => entries().some((e) => e.name === victim && e.alive && e.pid !== shot.pid), 30_000);
      for (const f of readdirSync(points)) rmSync(join(points, f));
    });
  }

  test("after all of them, a session on the revived cluster is exact", async () => {
    const out = tempDir("cpout");
    dirs.push(out);
    const r = await slowClient(cluster.port, data, out, 500, 8).finished;
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    expect(entries().every((e) => e.alive)).toBe(true);
  });
});
