/**
 * Processes SIGKILLed mid-session (real processes, real broker): the supervisor revives them and
 * every session's results stay exact — nothing lost, nothing counted twice.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pingHealth } from "../src/health.ts";
import { generate, slowClient, readResults, reference, sessionDirFrom, startCluster, tempDir, type TestCluster } from "./harness.ts";

setDefaultTimeout(240_000);

interface Entry { name: string; pid: number; alive: boolean; healthPort: number }

function entries(cluster: TestCluster): Entry[] {
  return JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as Entry[];
}

/** Wait until `name` runs again under a new pid (cluster.json is rewritten on every restart). */
async function revived(cluster: TestCluster, name: string, oldPid: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const e = entries(cluster).find((x) => x.name === name)!;
    if (e.alive && e.pid !== oldPid) return;
    if (performance.now() > deadline) throw new Error(`${name} was not revived`);
    await Bun.sleep(50);
  }
}

async function statuses(cluster: TestCluster, names: string[]): Promise<Record<string, unknown>[]> {
  return (await Promise.all(names.map((n) => pingHealth("127.0.0.1", entries(cluster).find((e) => e.name === n)!.healthPort, 500)))).map((r) => r?.status ?? {});
}

/**
 * Wait until every named aggregator holds an open session AND has made log records durable
 * since `baseline` (its durable log position before the session began): only then is there
 * committed state for the kill to test. In-memory state alone may not be committed yet.
 */
async function holdingState(cluster: TestCluster, names: string[], baseline: number[]): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const st = await statuses(cluster, names);
    if (st.every((s, i) => Number(s.sessions ?? 0) >= 1 && Number(s.durableLsn ?? 0) > baseline[i]!)) return;
    if (performance.now() > deadline) throw new Error(`${names.join(", ")} never all held a session`);
    await Bun.sleep(20);
  }
}

/** Run a slow client; once it reports progress (and `ready` holds), SIGKILL each named process. */
async function clientWithKills(cluster: TestCluster, data: string, out: string, victims: string[], ready: () => Promise<void> = async () => {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = slowClient(cluster.port, data, out);
  await run.underWay;
  await ready();
  for (const name of victims) {
    const victim = entries(cluster).find((e) => e.name === name)!;
    process.kill(victim.pid, "SIGKILL");
  }
  return run.finished;
}

describe("crashes", () => {
  let cluster: TestCluster;
  let data: string;
  let expected: Record<string, string>;
  const dirs: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ tag: "crash", extraArgs: ["--replicas", "filter-year=2"] });
    data = tempDir("crdata");
    dirs.push(data);
    await generate(data, 77, ["--months", "2024-10..2024-11", "--transactions-per-month", "3000", "--users", "500"]);
    expected = await reference(data);
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("stateless workers (fused chains) SIGKILLed mid-batch: revived, results exact", async () => {
    const out = tempDir("crout");
    dirs.push(out);
    const before = entries(cluster);
    const victims = ["transactions-chain-1", "transactions-chain-2", "items-chain-1"];
    const r = await clientWithKills(cluster, data, out, victims);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    for (const name of victims) {
      await revived(cluster, name, before.find((e) => e.name === name)!.pid);
    }
  });

  test("every aggregator SIGKILLed mid-session: state recovered from its log, results exact", async () => {
    const out = tempDir("agout");
    dirs.push(out);
    const victims = ["agg-q1", "agg-q2", "agg-q3", "agg-q4"];
    const before = entries(cluster);
    const baseline = (await statuses(cluster, victims)).map((s) => Number(s.durableLsn ?? 0));
    const r = await clientWithKills(cluster, data, out, victims, () => holdingState(cluster, victims, baseline));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    for (const name of victims) await revived(cluster, name, before.find((e) => e.name === name)!.pid);
    // Each revived aggregator rebuilt the open session from its log (its own log line says so).
    for (const name of victims) {
      const lines = [...readFileSync(join(cluster.stateDir, "logs", `${name}.log`), "utf8").matchAll(/recovered \d+ log records \((\d+) open sessions/g)];
      expect(lines.length).toBeGreaterThanOrEqual(2); // first start, then the revival
      expect(Number(lines.at(-1)![1])).toBeGreaterThanOrEqual(1);
    }
  });

  test("gateway SIGKILLed mid-upload: revived, the client resumes its session, results exact", async () => {
    const out = tempDir("gwout");
    dirs.push(out);
    const before = entries(cluster);
    const r = await clientWithKills(cluster, data, out, ["gateway"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    await revived(cluster, "gateway", before.find((e) => e.name === "gateway")!.pid);
    const gwLog = readFileSync(join(cluster.stateDir, "logs", "gateway.log"), "utf8");
    expect(gwLog).toMatch(/recovered 1 session\(s\) awaiting their clients/);
    expect(gwLog).toMatch(/session \S+ resumed/);
  });

  test("gateway whose result spool fails stops without acking the chunk; revived, the client still gets every result", async () => {
    const out = tempDir("spoolout");
    dirs.push(out);
    const before = entries(cluster);
    const gwLogPath = join(cluster.stateDir, "logs", "gateway.log");
    const failuresBefore = (readFileSync(gwLogPath, "utf8").match(/result spool failure, exiting/g) ?? []).length;
    const run = slowClient(cluster.port, data, out);
    await run.underWay;
    // Results come after the upload: by then the spool directory is a file, so the first append fails.
    const resultsDir = join(cluster.stateDir, "gateway", "results");
    expect(existsSync(resultsDir)).toBe(true);
    rmSync(resultsDir, { recursive: true, force: true });
    writeFileSync(resultsDir, "not a directory");
    const deadline = performance.now() + 120_000;
    while ((readFileSync(gwLogPath, "utf8").match(/result spool failure, exiting/g) ?? []).length === failuresBefore) {
      if (performance.now() > deadline) throw new Error("the gateway never reported the spool failure");
      await Bun.sleep(50);
    }
    // The disk is "repaired": the next revival starts cleanly and the resumed client gets everything.
    rmSync(resultsDir, { force: true });
    const r = await run.finished;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    await revived(cluster, "gateway", before.find((e) => e.name === "gateway")!.pid);
  });
});
