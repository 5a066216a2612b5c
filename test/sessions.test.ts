/**
 * Session isolation at the gateway, with real processes: the session limit rejects client N+1
 * with a clear message while N complete exactly; a client that vanishes mid-upload has its
 * session purged and frees its slot.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pingHealth } from "../src/health.ts";
import { coffeeArgv, generate, readResults, reference, runCoffee, sessionDirFrom, startCluster, tempDir, type TestCluster } from "./harness.ts";

// Real processes and a real broker: minutes, not the unit-test default of 5 s.
setDefaultTimeout(180_000);

interface Entry { name: string; healthPort: number }

async function statusOf(cluster: TestCluster, name: string): Promise<Record<string, unknown>> {
  const entries = JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as Entry[];
  const entry = entries.find((e) => e.name === name)!;
  const reply = await pingHealth("127.0.0.1", entry.healthPort, 1000);
  if (!reply) throw new Error(`${name} does not answer its health check`);
  return reply.status;
}

const gatewayStatus = (cluster: TestCluster): Promise<Record<string, unknown>> => statusOf(cluster, "gateway");

/** Probe the gateway's health until `pred` holds (the gateway announces nothing else). */
async function waitForGateway(cluster: TestCluster, pred: (s: Record<string, unknown>) => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (!pred(await gatewayStatus(cluster))) {
    if (performance.now() > deadline) throw new Error(`gateway never reached: ${what}`);
    await Bun.sleep(20);
  }
}

describe("sessions", () => {
  let cluster: TestCluster;
  let data: string;
  let expected: Record<string, string>;
  const cleanup: string[] = [];

  beforeAll(async () => {
    // A 1 s TTL: a vanished client's session is purged 1 s after its connection drops.
    cluster = await startCluster({ tag: "sessions", extraArgs: ["--max-sessions", "5"], env: { COFFEE_SESSION_TTL_S: "1" } });
    data = tempDir("sdata");
    cleanup.push(data);
    await generate(data, 5, ["--months", "2024-03..2024-04", "--transactions-per-month", "2500", "--users", "400"]);
    expected = await reference(data);
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  });

  test("6 clients against a limit of 5: one gets 'server full', five complete exactly", async () => {
    const out = tempDir("sout");
    cleanup.push(out);
    // Small batches and a window of 1 keep these five sessions open long enough to overlap.
    const slow = ["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet", "--batch-rows", "10", "--window", "1"];
    const five = Array.from({ length: 5 }, () => runCoffee(slow));
    await waitForGateway(cluster, (s) => s.sessions === 5, "5 open sessions");
    const sixth = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
    expect(sixth.code).not.toBe(0);
    expect(sixth.stderr.trim().split("\n")).toHaveLength(1);
    expect(sixth.stderr).toContain("SESSION_LIMIT");
    expect(sixth.stderr).toContain("server full");
    expect(sixth.stderr).toContain("(the gateway's --max-sessions)");
    const results = await Promise.all(five);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    }
  });

  test("a client killed mid-upload: after the session TTL its session is purged everywhere and its slot freed", async () => {
    const out = tempDir("kout");
    cleanup.push(out);
    const before = await gatewayStatus(cluster);
    const victim = Bun.spawn(coffeeArgv("--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet", "--batch-rows", "10", "--window", "1"), { stdout: "ignore", stderr: "ignore" });
    await waitForGateway(cluster, (s) => s.sessions === 1, "the victim's session open");
    victim.kill("SIGKILL");
    await victim.exited;
    await waitForGateway(cluster, (s) => s.sessions === 0 && s.sessionsPurged === Number(before.sessionsPurged) + 1, "the victim's session purged");
    // Every aggregator dropped the session's state too (the purge is a broker message).
    for (const q of ["q1", "q2", "q3", "q4"]) {
      const deadline = performance.now() + 30_000;
      let s = await statusOf(cluster, `agg-${q}`);
      while (!(s.sessions === 0 && Number(s.purged) >= 1) && performance.now() < deadline) {
        await Bun.sleep(20);
        s = await statusOf(cluster, `agg-${q}`);
      }
      expect(s.sessions).toBe(0);
      expect(Number(s.purged)).toBeGreaterThanOrEqual(1);
    }
    // The cluster still serves a full session exactly afterwards.
    const after = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
    expect(after.code).toBe(0);
    expect(readResults(sessionDirFrom(after.stdout))).toEqual(expected);
  });
});
