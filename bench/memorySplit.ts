/**
 * Where one process's peak memory lives: starts `coffee up`, runs N clients at once on a dataset
 * folder, and samples the chosen process (the gateway by default) every 100 ms: RSS split into
 * file-backed and anonymous from /proc/<pid>/status, its JavaScript heap and external
 * (ArrayBuffer) bytes from its /metrics (under Bun the heap figure includes the external one), and at the anonymous peak the mappings from
 * /proc/<pid>/smaps (the allocator's arena is one large anonymous mapping).
 *
 *   bun bench/memorySplit.ts --data DIR [--clients 5] [--process gateway] [--work /tmp/coffee-bench-mem]
 *
 * Prints a timeline and the peak's split; writes nothing else. Environment variables reach every
 * process, so runtime settings can be compared (e.g. BUN_JSC_useConcurrentJIT=0).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { readClusterFile } from "../src/clusterPlan.ts";
import { freeTcpPort } from "../src/ports.ts";
import { scrape, total } from "../test/promText.ts";
import { coffeeBin, installSignalCleanup, memoryMb, run, startUp, stopLive } from "./procStats.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, {
  data: { type: "string" },
  clients: { type: "string", default: "5" },
  process: { type: "string", default: "gateway" },
  work: { type: "string", default: "/tmp/coffee-bench-mem" },
});
const fail = (msg: string): never => { console.error(`memorySplit: ${msg}`); process.exit(2); };
const data = values.data ? resolve(values.data) : fail("--data DIR (an existing dataset folder) is required");
const clients = Number(values.clients);
if (!Number.isInteger(clients) || clients < 1) fail(`--clients: a count ≥ 1, not "${values.clients}"`);
const work = resolve(values.work);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
installSignalCleanup();

const MB = 1_048_576;
const bin = coffeeBin();
const port = freeTcpPort();
// A namespace of its own: a cluster left over from another run must not share its queues.
await startUp(bin, ["up", "--transport", "amqp", "--state-dir", join(work, "state"), "--port", String(port), "--namespace", `benchmem${process.pid}x${port}`,
  "--monitors", "1", "--delete-on-exit"], join(work, "up.log"));
const target = readClusterFile(join(work, "state", "cluster.json")).find((p) => p.name === values.process) ?? fail(`no process named ${values.process} in the cluster`);
if (target.pid === null || !target.metricsPort) fail(`${target.name} has no pid or metrics port`);
const pid = target.pid!;


interface Sample { t: number; rss: number; anon: number; file: number; heap: number; external: number }
const samples: Sample[] = [];
let peakSmaps = "";
let peakThreads = 0;
let sampling = true;
const t0 = performance.now();
const sampler = (async () => {
  while (sampling) {
    const metrics = await scrape(target.metricsPort!);
    const memory = memoryMb(pid);
    if (!memory) throw new Error(`${target.name} exited during the run`);
    const heap = Math.round(total(metrics, "nodejs_heap_size_used_bytes") / MB);
    const s: Sample = { t: (performance.now() - t0) / 1000, ...memory, heap, external: Math.round(total(metrics, "nodejs_external_memory_bytes") / MB) };
    if (samples.every((p) => s.anon > p.anon)) {
      peakSmaps = readFileSync(`/proc/${pid}/smaps`, "utf8");
      peakThreads = readdirSync(`/proc/${pid}/task`).length;
    }
    samples.push(s);
    await Bun.sleep(100); // a sampling period, not a wait for an event
  }
})();
// run() throws, with the client's last error lines, when a client fails.
await Promise.all(Array.from({ length: clients }, (_, i) =>
  run(bin, ["--role", "client", "--data", data, "--out", join(work, `out-${i}`), "--gateway", `127.0.0.1:${port}`, "--quiet"])))
  .finally(() => { sampling = false; });
await sampler;
await stopLive();

/** Anonymous kB per mapping at the peak, largest first. */
function anonymousMappings(smaps: string): { sizeMb: number; anonMb: number; perm: string; name: string }[] {
  const maps: { sizeMb: number; anonMb: number; perm: string; name: string }[] = [];
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) maps.push({ sizeMb: Math.round((parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / MB), anonMb: 0, perm: head[3]!, name: head[4]!.trim() });
    else if (line.startsWith("Anonymous:") && maps.length > 0) maps[maps.length - 1]!.anonMb += parseInt(line.split(/\s+/)[1]!) / 1024;
  }
  return maps.filter((m) => m.anonMb >= 1).sort((a, b) => b.anonMb - a.anonMb);
}

console.log(`${target.name}, ${clients} client(s) on ${data}: t s | RSS | anon | file | JS heap used, external included | external (MB)`);
for (const s of samples.filter((_, i) => i % 10 === 0)) console.log(`  ${s.t.toFixed(1)} | ${s.rss} | ${s.anon} | ${s.file} | ${s.heap} | ${s.external}`);
const peak = samples.reduce((a, b) => (b.anon > a.anon ? b : a));
console.log(`peak at ${peak.t.toFixed(1)} s: RSS ${peak.rss} MB = anonymous ${peak.anon} + file-backed ${peak.file}; JS heap used ${peak.heap}, external ${peak.external}; ${peakThreads} threads`);
console.log(`max over the run: JS heap used ${Math.max(...samples.map((s) => s.heap))} MB, external ${Math.max(...samples.map((s) => s.external))} MB`);
for (const m of anonymousMappings(peakSmaps).slice(0, 6)) console.log(`  mapping ${m.sizeMb} MB ${m.perm} ${m.name || "(anonymous)"}: ${Math.round(m.anonMb)} MB anonymous`);
