/**
 * A slow disk, for real: every fsync of the real processes slowed down by an LD_PRELOAD shim
 * (test/slowFsync.c, built here with the C compiler). A process waiting for its log's fsync must
 * go on answering its health checks and its broker: with the fsyncs on the event loop, 400 ms
 * each made the monitors declare the gateway and every aggregator down in the middle of a
 * session. Needs `cc` (CI installs it); skipped, saying so, without one.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { pingHealth } from "../src/health.ts";
import { AMQP_URL, coffeeArgv, generate, readResults, reference, runCoffee, sessionDirFrom, startCluster, tempDir, uniqueNamespace, watchedText, type TestCluster } from "./harness.ts";

setDefaultTimeout(120_000);

const SLOW_MS = 400;
const compiler = Bun.which("cc");
if (!compiler) console.warn("test/slowDisk.test.ts: no C compiler (cc) on PATH: the slow-disk tests are skipped");

/** The shim built into `dir`, with the files that steer it. */
async function buildShim(dir: string): Promise<{ env: Record<string, string>; slow: (ms: number) => void; slowCalls: () => number }> {
  const lib = join(dir, "slowFsync.so");
  const built = Bun.spawnSync([compiler!, "-shared", "-fPIC", "-O2", "-o", lib, resolve(import.meta.dir, "slowFsync.c"), "-ldl"], { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`cannot build the fsync shim: ${built.stderr.toString()}`);
  const delayFile = join(dir, "delay-ms");
  const countFile = join(dir, "slow-calls");
  writeFileSync(delayFile, "0");
  return {
    env: { LD_PRELOAD: lib, SLOW_FSYNC_FILE: delayFile, SLOW_FSYNC_COUNT: countFile },
    slow: (ms) => writeFileSync(delayFile, String(ms)),
    slowCalls: () => (existsSync(countFile) ? statSync(countFile).size : 0),
  };
}

describe.skipIf(!compiler)("a slow disk", () => {
  let dir: string;
  let shim: Awaited<ReturnType<typeof buildShim>>;

  beforeAll(async () => {
    dir = tempDir("slow-disk");
    shim = await buildShim(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test(`a commit waiting ${SLOW_MS} ms for its fsync leaves the event loop running`, async () => {
    shim.slow(SLOW_MS);
    const script = join(dir, "commit.ts");
    writeFileSync(
      script,
      `import { Wal } from ${JSON.stringify(resolve(import.meta.dir, "../src/wal.ts"))};
const { wal } = await Wal.open({ dir: ${JSON.stringify(join(dir, "log"))} });
let ticks = 0;
const timer = setInterval(() => ticks++, 10);
wal.append(Uint8Array.of(1, 2, 3));
const started = performance.now();
await wal.commit();
const ms = performance.now() - started;
clearInterval(timer);
await wal.close();
console.log(JSON.stringify({ ms, ticks }));
`,
    );
    const before = shim.slowCalls();
    const run = Bun.spawnSync([process.execPath, script], { env: { ...process.env, ...shim.env }, stdout: "pipe", stderr: "pipe" });
    shim.slow(0);
    expect(run.stderr.toString()).toBe("");
    const { ms, ticks } = JSON.parse(run.stdout.toString()) as { ms: number; ticks: number };
    expect(shim.slowCalls()).toBeGreaterThan(before); // the delay was applied
    expect(ms).toBeGreaterThanOrEqual(SLOW_MS * 0.9);
    // A 10 ms timer ran all along (a synchronous fsync lets it run not once).
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(SLOW_MS / 10 / 4));
  });

  test(`an aggregator recovering its log with ${SLOW_MS} ms fsyncs answers its health checks meanwhile (never three missed in a row)`, async () => {
    const state = tempDir("slow-disk-agg");
    const namespace = uniqueNamespace("slowrecover");
    /** An agg-q3 on `state`: its health port once it said where it answers, and when its log is recovered. */
    const start = (): { proc: Subprocess; port: Promise<number>; recovered: Promise<void> } => {
      const proc = Bun.spawn(coffeeArgv("--role", "aggregator", "--query", "q3", "--state-dir", state, "--namespace", namespace), {
        env: { ...process.env, AMQP_URL, ...shim.env } as Record<string, string>, stdin: "ignore", stdout: "ignore", stderr: "pipe",
      });
      const stderr = watchedText(proc.stderr, "agg-q3");
      const port = stderr.line(/health on udp\/\d+/).then((line) => Number(/udp\/(\d+)/.exec(line)![1]));
      const recovered = stderr.line(/recovered \d+ log records/).then(() => {});
      return { proc, port, recovered };
    };
    const started: Subprocess[] = [];
    try {
      // A first start with a fast disk leaves a log to recover.
      const first = start();
      started.push(first.proc);
      await first.recovered;
      first.proc.kill("SIGTERM");
      expect(await first.proc.exited).toBe(0);
      shim.slow(SLOW_MS);
      const slowBefore = shim.slowCalls();
      const second = start();
      started.push(second.proc);
      const port = await second.port;
      let answered = 0;
      let missedInARow = 0;
      let mostMissedInARow = 0;
      let recovering = true;
      // Until it said so, or died (then the checks below fail on what it did answer).
      void Promise.race([second.recovered, second.proc.exited]).finally(() => (recovering = false));
      // Checks as a monitor makes them while it recovers: each with the default timeout
      // (--timeout-ms 250), one every 50 ms.
      while (recovering) {
        const reply = await pingHealth("127.0.0.1", port, 250);
        if (reply === null) mostMissedInARow = Math.max(mostMissedInARow, ++missedInARow);
        else [answered, missedInARow] = [answered + 1, 0];
        await Bun.sleep(50);
      }
      shim.slow(0);
      await second.recovered;
      // The recovery did wait on slow fsyncs (the log's folders, its segment), and the checks
      // were answered: never the three in a row (--misses) that make a monitor call it down. A
      // synchronous recovery missed eight.
      expect(shim.slowCalls() - slowBefore).toBeGreaterThanOrEqual(3);
      expect(answered).toBeGreaterThanOrEqual(3);
      expect(mostMissedInARow).toBeLessThan(3);
      second.proc.kill("SIGTERM");
      expect(await second.proc.exited).toBe(0);
    } finally {
      shim.slow(0);
      // A failed check must not leave an aggregator behind.
      for (const p of started) p.kill("SIGKILL");
      await Promise.all(started.map((p) => p.exited));
      await deleteNamespace({ url: AMQP_URL }, namespace).catch(() => {});
      rmSync(state, { recursive: true, force: true });
    }
  });

  describe("a cluster whose every fsync takes 400 ms", () => {
    let cluster: TestCluster;
    let data: string;
    let expected: Record<string, string>;

    beforeAll(async () => {
      data = tempDir("slow-disk-data");
      await generate(data, 17, ["--months", "2024-05..2024-06", "--transactions-per-month", "3000", "--users", "400"]);
      expected = await reference(data);
      cluster = await startCluster({ tag: "slowdisk", env: shim.env });
    });
    afterAll(async () => {
      shim.slow(0);
      await cluster?.stop();
      rmSync(data, { recursive: true, force: true });
    });

    test("no process is declared down, and two sessions at once come out exact", async () => {
      const monitorLog = join(cluster.stateDir, "logs", "monitor-1.log");
      const heardBefore = existsSync(monitorLog) ? readFileSync(monitorLog, "utf8").length : 0;
      const slowBefore = shim.slowCalls();
      shim.slow(SLOW_MS);
      const out = tempDir("slow-disk-out");
      const clients = await Promise.all(
        [1, 2].map(() => runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`])),
      );
      shim.slow(0);
      for (const c of clients) {
        expect(c.code).toBe(0);
        expect(readResults(sessionDirFrom(c.stdout))).toEqual(expected);
      }
      // The sessions did wait on slow fsyncs: the logs' commits, the gateway's result spool.
      expect(shim.slowCalls() - slowBefore).toBeGreaterThanOrEqual(10);
      const heard = readFileSync(monitorLog, "utf8").slice(heardBefore);
      expect(heard.split("\n").filter((line) => /is down|does not answer/.test(line))).toEqual([]);
      rmSync(out, { recursive: true, force: true });
    });
  });
});
