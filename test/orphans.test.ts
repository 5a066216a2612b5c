/**
 * `coffee up` SIGKILLed leaves no process behind: its children see they were orphaned and stop
 * as on SIGTERM (src/parentWatch.ts), so the gateway's port is free for the next `coffee up`
 * (real coffee up, real broker, real processes).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ClusterProcess } from "../src/clusterPlan.ts";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { tcpPortFree } from "../src/ports.ts";
import { AMQP_URL, startCluster } from "./harness.ts";

setDefaultTimeout(60_000);

/** True while `pid` runs (a zombie awaiting its reaper has stopped running). */
function running(pid: number): boolean {
  const status = `/proc/${pid}/status`;
  if (!existsSync(status)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(status, "utf8"));
  } catch {
    return false; // gone while we read
  }
}

test.skipIf(process.platform !== "linux")("coffee up SIGKILLed: every child stops by itself, and the gateway's port is free again", async () => {
  const cluster = await startCluster({ tag: "orphans" });
  const children = (JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as ClusterProcess[])
    .filter((p) => p.pid !== null && p.pid !== cluster.proc.pid);
  try {
    expect(children.map((c) => c.role).sort()).toEqual(expect.arrayContaining(["aggregator", "gateway", "monitor", "worker"]));
    expect(children.every((c) => running(c.pid!))).toBe(true);
    cluster.proc.kill("SIGKILL");
    await cluster.proc.exited;
    // No event tells a test that processes it did not start have exited: look until a deadline.
    const deadline = performance.now() + 20_000;
    while (children.some((c) => running(c.pid!)) && performance.now() < deadline) await Bun.sleep(100);
    expect(children.filter((c) => running(c.pid!)).map((c) => c.name)).toEqual([]);
    expect(tcpPortFree(cluster.port, "0.0.0.0")).toBe(true);
    // They stopped as on SIGTERM, saying why.
    expect(readFileSync(join(cluster.stateDir, "logs", "gateway.log"), "utf8")).toContain(`parent process ${cluster.proc.pid} is gone; stopping`);
  } finally {
    for (const c of children) if (running(c.pid!)) process.kill(c.pid!, "SIGKILL");
    await deleteNamespace({ url: AMQP_URL }, cluster.namespace).catch(() => {});
    rmSync(cluster.stateDir, { recursive: true, force: true });
  }
});
