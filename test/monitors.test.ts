/**
 * Self-healing with real processes: monitors elect a leader, the leader revives SIGKILLed
 * processes (monitors included) through coffee up's control API, and a process that keeps
 * dying exhausts its revival budget and is reported, not restarted forever.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pingHealth } from "../src/health.ts";
import { freeTcpPort } from "../src/ports.ts";
import { runCoffee, startCluster, until, type TestCluster } from "./harness.ts";
import { boundSockets } from "./sockets.ts";

setDefaultTimeout(120_000);

interface Entry { name: string; role: string; pid: number; alive: boolean; healthPort: number; restarts: number }

const entries = (c: TestCluster): Entry[] => JSON.parse(readFileSync(join(c.stateDir, "cluster.json"), "utf8")) as Entry[];
const entry = (c: TestCluster, name: string): Entry => entries(c).find((e) => e.name === name)!;
const monitorLog = (c: TestCluster, name: string): string => readFileSync(join(c.stateDir, "logs", `${name}.log`), "utf8");


/** The leader all healthy monitors agree on, or null while they disagree. */
async function agreedLeader(c: TestCluster): Promise<{ leader: string; term: number } | null> {
  const replies = await Promise.all(entries(c).filter((e) => e.role === "monitor").map((e) => pingHealth("127.0.0.1", e.healthPort, 300)));
  const live = replies.filter((r) => r !== null).map((r) => r!.status);
  if (live.length === 0) return null;
  const leaders = new Set(live.map((s) => `${String(s.leader)}@${String(s.term)}`));
  if (leaders.size !== 1 || !live[0]!.leader) return null;
  return { leader: String(live[0]!.leader), term: Number(live[0]!.term) };
}

/** Stabilised: every live monitor agrees that the highest id, monitor-3, leads. */
const settled = (c: TestCluster): Promise<{ leader: string; term: number }> =>
  until("monitors to agree on monitor-3", async () => { const a = await agreedLeader(c); return a?.leader === "monitor-3" ? a : null; });

const revivedFrom = (c: TestCluster, name: string, oldPid: number): Promise<Entry> =>
  until(`${name} revived`, () => { const e = entry(c, name); return e.alive && e.pid !== oldPid ? e : null; });

describe("monitors", () => {
  let cluster: TestCluster;
  const dashboardPort = freeTcpPort();

  beforeAll(async () => {
    cluster = await startCluster({ tag: "mon", extraArgs: ["--monitors", "3", "--deploy", "split", "--dashboard-port", String(dashboardPort)], env: {
      COFFEE_REVIVE_MAX_ATTEMPTS: "3", COFFEE_REVIVE_INITIAL_MS: "100", COFFEE_REVIVE_MAX_MS: "200", COFFEE_HUNG_AFTER_MS: "2000",
      // Another cluster's control API in coffee up's environment: its monitors must use their own.
      COFFEE_CONTROL_URL: "http://127.0.0.1:1", COFFEE_CONTROL_KEY: "another cluster's",
    } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  test("the highest id leads; a SIGKILLed worker is revived by the leader", async () => {
    const first = await settled(cluster);
    expect(first.leader).toBe("monitor-3");
    const victim = entry(cluster, "filter-time-1");
    process.kill(victim.pid, "SIGKILL");
    const back = await revivedFrom(cluster, "filter-time-1", victim.pid);
    await until("the revived worker answering", () => pingHealth("127.0.0.1", back.healthPort, 300));
    // cluster.json counts the restart (the dashboard and coffee status show it).
    expect(back.restarts).toBe(1);
    expect(entry(cluster, "filter-year-1").restarts).toBe(0);
    // The leader asked for it (coffee up does not restart children while monitors run).
    expect(monitorLog(cluster, "monitor-3")).toMatch(/reviving filter-time-1 \(attempt 1, term \d+\)/);
    expect(monitorLog(cluster, "monitor-3")).toContain("revived filter-time-1");
  });

  test("a stopped (SIGSTOP) worker, alive but silent, is left alone at first, then killed and started again", async () => {
    await settled(cluster);
    const victim = entry(cluster, "filter-year-1");
    process.kill(victim.pid, "SIGSTOP");
    const stoppedAt = performance.now();
    const back = await revivedFrom(cluster, "filter-year-1", victim.pid);
    // Not before --hung-after-ms (2 s here) of silence: running is not dead.
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual(2000);
    await until("the replaced worker answering", () => pingHealth("127.0.0.1", back.healthPort, 300));
    // Killed and reaped before its successor was started (coffee up waits for the exit).
    const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
    expect(alive(victim.pid)).toBe(false);
    // The leader logs the revival once coffee up has answered, which may come after cluster.json changed.
    const log = await until("the leader's log of the replacement", () => { const l = monitorLog(cluster, "monitor-3"); return l.includes("revived filter-year-1") ? l : null; });
    expect(log).toContain("filter-year-1 is running but does not answer its health checks; it is replaced if silent for 2 s");
  });

  test("SIGKILL the leader: a new leader is elected, revives the old one, which takes over again", async () => {
    const before = await settled(cluster);
    const leader = entry(cluster, before.leader);
    process.kill(leader.pid, "SIGKILL");
    await revivedFrom(cluster, before.leader, leader.pid);
    const after = await until("a newer agreed leader", async () => { const a = await agreedLeader(cluster); return a && a.term > before.term && a.leader === "monitor-3" ? a : null; });
    expect(after.term).toBeGreaterThan(before.term);
    expect(monitorLog(cluster, "monitor-2")).toMatch(/revived monitor-3/);
  });

  test("SIGKILL 2 of 3 monitors: the survivor leads and revives both", async () => {
    await settled(cluster);
    const m2 = entry(cluster, "monitor-2");
    const m3 = entry(cluster, "monitor-3");
    process.kill(m2.pid, "SIGKILL");
    process.kill(m3.pid, "SIGKILL");
    await revivedFrom(cluster, "monitor-2", m2.pid);
    await revivedFrom(cluster, "monitor-3", m3.pid);
    // cluster.json changes when coffee up spawns the child, a moment before the monitor hears
    // back and logs it: wait for the log lines rather than reading the log once.
    const log1 = await until("monitor-1 to log both revivals", () => { const l = monitorLog(cluster, "monitor-1"); return /revived monitor-2/.test(l) && /revived monitor-3/.test(l) ? l : null; });
    expect(log1).toContain("leader now: monitor-1");
    await settled(cluster);
  });

  test("an election message not signed with the cluster's key is ignored, and said so: a forged term moves nothing", async () => {
    const before = await settled(cluster);
    const port = Number(/election on tcp\/(\d+)/.exec(monitorLog(cluster, "monitor-3"))![1]);
    // One line would once have made every monitor adopt the term (the control API then refused their revivals).
    const forged = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    forged.write(`${JSON.stringify({ type: "election", from: 1, term: before.term + 1_000_000 })}\n`);
    forged.end();
    await until("the forged message reported", () => (/ignored an election message not signed with this monitor's election key/.test(monitorLog(cluster, "monitor-3")) ? true : null));
    expect(await agreedLeader(cluster)).toEqual(before);
  });

  test("coffee status shows every process healthy and the leader", async () => {
    await settled(cluster);
    await until("every process up", async () => (await Promise.all(entries(cluster).map((e) => pingHealth("127.0.0.1", e.healthPort, 300)))).every(Boolean) || null);
    const r = await runCoffee(["status", "--state-dir", cluster.stateDir, "--json"]);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as { processes: { name: string; healthy: boolean; restarts: number | null }[]; leader: string; term: number; sessions: unknown[]; queues: { queue: string; consumers: number }[] | null };
    expect(status.leader).toBe("monitor-3");
    expect(status.processes.map((p) => p.name)).toEqual(entries(cluster).map((e) => e.name));
    expect(status.processes.every((p) => p.healthy)).toBe(true);
    expect(status.processes.every((p) => typeof p.restarts === "number")).toBe(true);
    // No client: no sessions; the gateway polls queue depths from the broker (every 2 s).
    expect(status.sessions).toEqual([]);
    expect(status.queues?.find((q) => q.queue === "results")?.consumers).toBe(1);
    const table = await runCoffee(["status", "--state-dir", cluster.stateDir]);
    expect(table.stdout).toMatch(/^NAME\s+ROLE\s+PID\s+HEALTH/);
    expect(table.stdout).toContain(`leader: monitor-3 (term ${status.term})`);
    expect(table.stdout).toContain("sessions: none open");
    expect(table.stdout).toMatch(/\n  results +\d+ +1\n/);
  });
  test.skipIf(process.platform !== "linux")("a coffee up cluster listens on loopback only, the gateway's client port included (--host opens it)", async () => {
    await settled(cluster);
    const open: string[] = [];
    for (const e of entries(cluster)) {
      const sockets = boundSockets(e.pid);
      // Health and health pings (UDP); metrics, election, the dashboard (TCP): all of them.
      expect(sockets.some((s) => s.proto === "udp" && s.port === e.healthPort)).toBe(true);
      for (const s of sockets) {
        if (s.address !== "127.0.0.1" && s.address !== "::1") open.push(`${e.name} ${s.proto} ${s.address}:${s.port}`);
      }
    }
    expect(boundSockets(entry(cluster, "monitor-1").pid)).toContainEqual({ proto: "tcp", address: "127.0.0.1", port: dashboardPort });
    const up = boundSockets(cluster.proc.pid);
    for (const s of up) if (s.address !== "127.0.0.1" && s.address !== "::1") open.push(`coffee up ${s.proto} ${s.address}:${s.port}`);
    expect(open).toEqual([]);
  });

  test("every monitor SIGKILLed: coffee up restarts them, they lead above the fenced term and revive again", async () => {
    const before = await settled(cluster);
    const monitors = entries(cluster).filter((e) => e.role === "monitor");
    for (const m of monitors) process.kill(m.pid, "SIGKILL");
    for (const m of monitors) await revivedFrom(cluster, m.name, m.pid);
    const after = await until("a leader again", async () => { const a = await agreedLeader(cluster); return a && a.term > before.term && a.leader === "monitor-3" ? a : null; });
    expect(after.leader).toBe("monitor-3");
    // They can still act: the backend did not fence them as stale.
    const victim = entry(cluster, "filter-amount-1");
    process.kill(victim.pid, "SIGKILL");
    await revivedFrom(cluster, "filter-amount-1", victim.pid);
  });

  test("a process that keeps dying exhausts its revival budget and is reported, not restarted forever", async () => {
    await settled(cluster);
    // Kill group-q3-1 every time it comes back, until the leader gives up on it.
    const deadline = performance.now() + 60_000;
    let kills = 0;
    while (!/gave up on group-q3-1/.test(monitorLog(cluster, "monitor-3")) && performance.now() < deadline) {
      const e = entry(cluster, "group-q3-1");
      if (e.alive) {
        try { process.kill(e.pid, "SIGKILL"); kills++; } catch { /* already gone */ }
      }
      await Bun.sleep(20);
    }
    expect(monitorLog(cluster, "monitor-3")).toContain("gave up on group-q3-1 after 3 attempts");
    expect(kills).toBeGreaterThanOrEqual(3);
    // Left down: no more revival attempts for it.
    const attempts = (monitorLog(cluster, "monitor-3").match(/reviving group-q3-1/g) ?? []).length;
    await Bun.sleep(1500);
    expect((monitorLog(cluster, "monitor-3").match(/reviving group-q3-1/g) ?? []).length).toBe(attempts);
    expect(entry(cluster, "group-q3-1").alive).toBe(false);
    // coffee status says so, not only the monitor's log.
    const status = await runCoffee(["status", "--state-dir", cluster.stateDir]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/\nrevival: monitor-3 gave up on group-q3-1 after 3 attempts, the last \d+ s ago; /);
  });

});
