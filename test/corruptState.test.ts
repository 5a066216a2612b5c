/**
 * An aggregator whose write-ahead log no longer recovers (a byte changed on disk while it was
 * down): real processes under `coffee up`, real broker, a real file damaged. The session it held
 * fails at once with the cause, rather than after --result-timeout-s; the damaged files are kept
 * aside; the aggregator serves again, and the next session is exact.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readClusterFile, type ClusterProcess } from "../src/clusterPlan.ts";
import { pingHealth } from "../src/health.ts";
import { SET_ASIDE_MARKER } from "../src/stateSetAside.ts";
import { RECORD_HEADER_BYTES, segmentFileName } from "../src/wal.ts";
import { generate, readResults, reference, runCoffee, sessionDirFrom, slowClient, startCluster, tempDir, until, type TestCluster } from "./harness.ts";

setDefaultTimeout(180_000);

let cluster: TestCluster | null = null;
const dirs: string[] = [];
afterAll(async () => {
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const entry = (c: TestCluster, name: string): ClusterProcess => readClusterFile(join(c.stateDir, "cluster.json")).find((e) => e.name === name)!;

test("a corrupt aggregator log fails the sessions it held at once, is set aside, and the next session is exact", async () => {
  // A result timeout far beyond the test's own: only the aggregator's report can end the session in time.
  cluster = await startCluster({ tag: "corrupt", env: { COFFEE_RESULT_TIMEOUT_S: "3600" } });
  const data = tempDir("cordata");
  dirs.push(data);
  await generate(data, 31, ["--months", "2024-10..2024-11", "--transactions-per-month", "2000", "--users", "300"]);
  const expected = await reference(data);

  const run = slowClient(cluster.port, data, tempDir("corout1"));
  await run.underWay;
  // agg-q3 holds the session with two durable records at least: then damage to the first one is
  // corruption (a valid record follows), not a torn tail that recovery would drop.
  const agg = entry(cluster, "agg-q3");
  const pid = agg.pid!;
  await until("agg-q3 holding two durable records of the session", async () => {
    const s = (await pingHealth("127.0.0.1", agg.healthPort, 500))?.status ?? {};
    return Number(s.sessions ?? 0) >= 1 && Number(s.durableLsn ?? 0) >= 2;
  });
  process.kill(pid, "SIGSTOP");
  const segment = join(cluster.stateDir, "agg-q3", segmentFileName(1));
  const bytes = readFileSync(segment);
  bytes[RECORD_HEADER_BYTES + 4]! ^= 0xff;
  writeFileSync(segment, bytes);
  process.kill(pid, "SIGKILL");

  const first = await run.finished;
  expect(first.code).not.toBe(0);
  const reason = first.stderr.trim().split("\n").at(-1)!;
  expect(reason).toContain("PIPELINE_FAILED: the q3 aggregator lost this session's state (WAL_CORRUPT: ");
  expect(reason).toContain(segment);

  // The gateway fails the session as soon as the broker has the aggregator's report, which may
  // be before the aggregator has moved its files: wait for the move to be over (no marker left).
  const aggDir = join(cluster.stateDir, "agg-q3");
  const aside = await until("agg-q3 to set its log aside", () => {
    const names = readdirSync(aggDir);
    const folders = names.filter((n) => n.startsWith("corrupt-"));
    return !names.includes(SET_ASIDE_MARKER) && folders.length > 0 && folders;
  });
  expect(aside).toHaveLength(1);
  expect(readFileSync(join(aggDir, aside[0]!, segmentFileName(1)))).toEqual(bytes);
  // An operator sees it in `coffee status` until it is deleted.
  const status = await runCoffee(["status", "--state-dir", cluster.stateDir]);
  expect(status.stdout).toContain(`set aside: 1 folder(s) of damaged state`);
  expect(status.stdout).toContain(`  agg-q3/${aside[0]} (`);

  const out = tempDir("corout2");
  dirs.push(out);
  const second = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`]);
  expect(second.code).toBe(0);
  expect(readResults(sessionDirFrom(second.stdout))).toEqual(expected);
});
