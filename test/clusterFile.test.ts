/**
 * cluster.json under `coffee up` when it cannot be written (a full disk, here a directory in its
 * way): children are still restarted, and the file catches up once it can be written again.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ClusterProcess } from "../src/clusterPlan.ts";
import { startCluster, until } from "./harness.ts";

const monitorPid = (clusterFile: string): number | null =>
  (JSON.parse(readFileSync(clusterFile, "utf8")) as ClusterProcess[]).find((p) => p.name === "monitor-1")?.pid ?? null;

test("a restart cluster.json cannot record happens anyway; the file is written again once it can be", async () => {
  const cluster = await startCluster({ tag: "clusterfile", extraArgs: ["--transport", "memory", "--restart", "always"] });
  try {
    const clusterFile = join(cluster.stateDir, "cluster.json");
    const before = monitorPid(clusterFile);
    expect(before).not.toBeNull();
    rmSync(clusterFile);
    mkdirSync(join(clusterFile, "in-the-way"), { recursive: true });
    process.kill(before!, "SIGKILL");
    await cluster.logged(/could not record the change: OUTPUT_FAILED: cannot write .*cluster\.json/);
    await cluster.logged(/restarting monitor-1/);
    rmSync(clusterFile, { recursive: true });
    await cluster.logged(/cluster\.json is up to date again/);
    const after = monitorPid(clusterFile);
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    expect(() => process.kill(after!, 0)).not.toThrow();
  } finally {
    await cluster.stop();
  }
}, 30_000);

test("--delete-on-exit deletes the gateway's and aggregators' state with the namespace; logs stay", async () => {
  const cluster = await startCluster({ tag: "delete-on-exit", extraArgs: ["--delete-on-exit", "--monitors", "0"] });
  try {
    const stateOf = (name: string): string => join(cluster.stateDir, name);
    expect(existsSync(stateOf("gateway"))).toBe(true);
    expect(existsSync(stateOf("agg-q1"))).toBe(true);
    cluster.proc.kill("SIGTERM");
    expect(await cluster.proc.exited).toBe(0);
    await cluster.logged(new RegExp(`deleted namespace ${cluster.namespace}, and the gateway's and aggregators' state`));
    for (const name of ["gateway", "agg-q1", "agg-q2", "agg-q3", "agg-q4"]) expect(existsSync(stateOf(name))).toBe(false);
    expect(existsSync(join(cluster.stateDir, "logs", "gateway.log"))).toBe(true);
  } finally {
    await cluster.stop();
  }
}, 30_000);

test("a restart cluster.json cannot record is not mistaken for a dead process: the leader hears the successor answer", async () => {
  const cluster = await startCluster({ tag: "stale-pids", extraArgs: ["--transport", "memory", "--monitors", "2"], env: { COFFEE_HUNG_AFTER_MS: "1000" } });
  try {
    const clusterFile = join(cluster.stateDir, "cluster.json");
    const monitorLog = (name: string): string => readFileSync(join(cluster.stateDir, "logs", `${name}.log`), "utf8");
    // monitor-2 (the highest id) leads, and watches monitor-1.
    await until("monitor-2 to lead", () => /leader now: monitor-2/.test(monitorLog("monitor-2")));
    const before = (JSON.parse(readFileSync(clusterFile, "utf8")) as ClusterProcess[]).find((p) => p.name === "monitor-1")!.pid!;
    // From now on cluster.json keeps the dead pid: its temporary file cannot be written.
    mkdirSync(join(`${clusterFile}.tmp`, "in-the-way"), { recursive: true });
    process.kill(before, "SIGKILL");
    await cluster.logged(/could not record the change/);
    // The successor answers under the same name and namespace: heard, though cluster.json still
    // names its dead predecessor. Judged by that pid, it was taken for dead and killed over and over.
    await until("monitor-2 to hear monitor-1 again", () => /monitor-1 is answering again/.test(monitorLog("monitor-2")));
    expect(monitorPid(clusterFile)).toBe(before);
    rmSync(`${clusterFile}.tmp`, { recursive: true });
    await cluster.logged(/cluster\.json is up to date again/);
    const up = await cluster.logged(/killed monitor-1|is up to date again/);
    expect(up).not.toContain("killed monitor-1");
  } finally {
    await cluster.stop();
  }
}, 30_000);
