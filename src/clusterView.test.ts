import { afterAll, expect, test } from "bun:test";
import type { ClusterProcess } from "./clusterPlan.ts";
import { brokerLinkOf, osStateOf, pingEntry } from "./clusterView.ts";
import { startHealthServer, type HealthServer } from "./health.ts";

const servers: HealthServer[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

const entry = (name: string, healthPort: number): ClusterProcess => ({ name, role: "worker", pid: null, alive: true, healthPort });

test("a health reply counts for the entry it names, not for another process on that port", async () => {
  const server = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "worker", name: "w2" }) });
  servers.push(server);
  expect(await pingEntry(entry("w2", server.port), 1000)).toMatchObject({ ok: true, status: { name: "w2" } });
  // w1's port now belongs to w2 (a restart drew it, or a container address was reused): w1 is not alive.
  expect(await pingEntry(entry("w1", server.port), 300)).toBeNull();
});

test("a reply from another namespace counts as none (the same name in another cluster); a pid cluster.json has not caught up with does not", async () => {
  const server = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "aggregator", name: "agg-q4", namespace: "ns-a" }) });
  servers.push(server);
  expect(await pingEntry({ ...entry("agg-q4", server.port), namespace: "ns-a" }, 1000)).not.toBeNull();
  expect(await pingEntry({ ...entry("agg-q4", server.port), namespace: "ns-b" }, 300)).toBeNull();
  // A restart cluster.json could not record (a full disk): its successor is alive all the same.
  expect(await pingEntry({ ...entry("agg-q4", server.port), namespace: "ns-a", pid: process.pid + 100_000 }, 1000)).not.toBeNull();
  // compose's cluster file names no namespace: the name decides.
  expect(await pingEntry(entry("agg-q4", server.port), 1000)).not.toBeNull();
});

test.skipIf(process.platform !== "linux")("the kernel's word on a pid that does not answer: stopped, exited or silent", async () => {
  const child = Bun.spawn(["sleep", "30"]);
  try {
    expect(osStateOf(child.pid)).toBe("silent");
    process.kill(child.pid, "SIGSTOP");
    // The stop is delivered asynchronously: the state says so once it took effect.
    let state = osStateOf(child.pid);
    for (let i = 0; i < 100 && state !== "stopped"; i++) state = (await Bun.sleep(10), osStateOf(child.pid));
    expect(state).toBe("stopped");
  } finally {
    child.kill("SIGKILL");
  }
  await child.exited;
  expect(osStateOf(child.pid)).toBe("exited");
});

test("a role's broker link, from its health reply: starting without a broker field is still connecting; no field after that is no broker", () => {
  expect(brokerLinkOf({ state: "starting" })).toBe("connecting");
  expect(brokerLinkOf({ state: "starting", broker: "connected" })).toBe("connected");
  expect(brokerLinkOf({ state: "starting", broker: "reconnecting" })).toBe("reconnecting");
  expect(brokerLinkOf({ state: "running", broker: "blocked" })).toBe("blocked");
  expect(brokerLinkOf({ state: "running" })).toBe("none");
  expect(brokerLinkOf({ state: "leader" })).toBe("none");
});
