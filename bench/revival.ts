/**
 * Detection and revival times of the self-healing cluster, and leader failover: SIGKILLs
 * random workers/aggregators/gateway N times and the leader monitor M times, while sampling every
 * monitor's status to count moments with two leaders in the same term.
 *
 *   bun bench/revival.ts [--kills 20] [--failovers 5]
 */
import { freeTcpPort } from "../src/ports.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pingHealth } from "../src/health.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, { kills: { type: "string", default: "20" }, failovers: { type: "string", default: "5" }, work: { type: "string", default: "/tmp/coffee-revival" } });
const root = join(import.meta.dir, "..");
const stateDir = join(values.work!, "state");
const port = freeTcpPort();
const up = Bun.spawn([process.execPath, join(root, "src/main.ts"), "up", "--state-dir", stateDir, "--port", String(port), "--namespace", `rev${port}`, "--monitors", "3", "--delete-on-exit"], { stdout: "pipe", stderr: "ignore" });
const reader = up.stdout.getReader();
for (let t = ""; !t.includes("ready"); ) {
  const { value, done } = await reader.read();
  if (done) throw new Error("coffee up exited");
  t += new TextDecoder().decode(value);
}
interface Entry { name: string; role: string; pid: number; alive: boolean; healthPort: number }
const entries = (): Entry[] => JSON.parse(readFileSync(join(stateDir, "cluster.json"), "utf8")) as Entry[];

let sampling = true;
let doubleLeader = 0;
let concurrentLeaders = 0;
let samples = 0;
const sampler = (async () => {
  while (sampling) {
    const st = (await Promise.all(entries().filter((e) => e.role === "monitor").map((e) => pingHealth("127.0.0.1", e.healthPort, 200)))).filter((r) => r !== null).map((r) => r!.status);
    const leadersByTerm = new Map<number, number>();
    for (const s of st) if (s.state === "leader") leadersByTerm.set(Number(s.term), (leadersByTerm.get(Number(s.term)) ?? 0) + 1);
    if ([...leadersByTerm.values()].some((n) => n > 1)) doubleLeader++;
    if (st.filter((x) => x.state === "leader").length > 1) concurrentLeaders++;
    samples++;
    await Bun.sleep(50);
  }
})();

async function waitUntil<T>(f: () => Promise<T | null>): Promise<T> {
  for (;;) {
    const v = await f();
    if (v) return v;
    await Bun.sleep(10);
  }
}

const detect: number[] = [];
const revive: number[] = [];
await Bun.sleep(2000);
for (let i = 0; i < Number(values.kills); i++) {
  const candidates = entries().filter((e) => e.role !== "monitor" && e.alive);
  const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
  const t0 = Date.now();
  process.kill(victim.pid, "SIGKILL");
  // Detected: the leader's log says so. Revived: the process answers its health check again.
  const leaderLog = (): string => entries().filter((e) => e.role === "monitor").map((e) => readFileSync(join(stateDir, "logs", `${e.name}.log`), "utf8")).join("\n");
  const detectedAt = await waitUntil(async () => {
    const m = [...leaderLog().matchAll(new RegExp(`^(\\S+) monitor-\\d WARN ${victim.name} \\(\\w+\\) is down`, "gm"))].map((x) => Date.parse(x[1]!)).filter((t) => t >= t0);
    return m.length ? m[0]! : null;
  });
  await waitUntil(async () => {
    const e = entries().find((x) => x.name === victim.name)!;
    return e.pid !== victim.pid && e.alive ? pingHealth("127.0.0.1", e.healthPort, 200) : null;
  });
  detect.push(detectedAt - t0);
  revive.push(Date.now() - t0);
  await Bun.sleep(500);
}

const failover: number[] = [];
for (let i = 0; i < Number(values.failovers); i++) {
  const monitors = entries().filter((e) => e.role === "monitor");
  const statuses = await Promise.all(monitors.map((e) => pingHealth("127.0.0.1", e.healthPort, 300)));
  const leaderName = String(statuses.find((s) => s?.status.state === "leader")?.status.name ?? "monitor-3");
  const leader = monitors.find((m) => m.name === leaderName)!;
  const term = Number(statuses.find((s) => s?.status.name === leaderName)?.status.term);
  const t0 = Date.now();
  process.kill(leader.pid, "SIGKILL");
  // Failover: the other monitors agree on a new leader with a higher term.
  await waitUntil(async () => {
    const others = monitors.filter((m) => m.name !== leaderName);
    const st = await Promise.all(others.map((e) => pingHealth("127.0.0.1", e.healthPort, 200)));
    return st.every((s) => s && Number(s.status.term) > term && s.status.leader && s.status.leader !== leaderName) ? true : null;
  });
  failover.push(Date.now() - t0);
  await waitUntil(async () => { const e = entries().find((x) => x.name === leaderName)!; return e.alive && e.pid !== leader.pid ? pingHealth("127.0.0.1", e.healthPort, 200) : null; });
  await Bun.sleep(1500);
}
sampling = false;
await sampler;
up.kill("SIGTERM");
await up.exited;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const max = (xs: number[]): number => Math.max(...xs);
console.log(`| measure | n | median ms | max ms |`);
console.log(`| --- | ---: | ---: | ---: |`);
console.log(`| detection (kill → leader logs down) | ${detect.length} | ${median(detect)} | ${max(detect)} |`);
console.log(`| revival (kill → process answers health again) | ${revive.length} | ${median(revive)} | ${max(revive)} |`);
console.log(`| leader failover (kill leader → others agree on a new one) | ${failover.length} | ${median(failover)} | ${max(failover)} |`);
console.log(`double-leader observations (same term): ${doubleLeader} in ${samples} samples`);
console.log(`moments with two monitors in state leader at different terms (the older one fenced): ${concurrentLeaders}`);
