/**
 * The speed targets on an existing dataset folder: one `coffee up` (amqp, 1 monitor), first ONE
 * client on the fresh cluster (solo, cold: JIT warm-up and first-touch pages included), ONE more
 * (solo-warm), then N clients started at once (concurrent), against DuckDB (2 threads) on the
 * same folder, which is also the oracle every session's four files must equal byte for byte.
 *
 *   bun bench/scale.ts --data DIR [--label NAME] [--concurrent 5] [--deploy fused|split]
 *                      [--max-seconds S] [--work /tmp/coffee-bench-scale] [--out bench/results]
 *
 * Targets (each printed PASS/FAIL with its figure; exit 1 when any fails, outputs still written):
 * every session exact; cold solo client time (client start → its four files) ≤ 4× DuckDB's; no
 * concurrent session slower than 3× the warm solo time (the cold one is printed beside it); peak RSS of the gateway and of every worker ≤ 150 MB;
 * with --max-seconds, solo ≤ S. CPU seconds and peak RSS per process come from /proc, per phase.
 * Writes OUT/scale-<label>.md and .json and appends a line to OUT/scale-history.jsonl. Uses
 * dist/coffee when built (`bun run build`), else runs from source. Never generates data.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { basename, join, resolve } from "node:path";
import { freeTcpPort } from "../src/ports.ts";
import { ENTITIES, QUERIES, queryFileName } from "../src/schema.ts";
import { chainByName, chainOf, dataKey, stageByName } from "../src/topology.ts";
import { runDuckdb } from "./duckdb.ts";
import {
  BROKER, DIST_BIN, ROOT, clockTicks, clusterPids, isInterrupted, prepareClusterBench, resetPeaks, run, sample, startUp, stopLive,
  type Finished, type ProcSample,
} from "./procStats.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, {
  data: { type: "string" },
  label: { type: "string" },
  concurrent: { type: "string", default: "5" },
  deploy: { type: "string", default: "fused" },
  "max-seconds": { type: "string" },
  work: { type: "string", default: "/tmp/coffee-bench-scale" },
  out: { type: "string" },
});
const fail = (msg: string): never => { console.error(`scale: ${msg}`); process.exit(2); };
if (!values.data || !existsSync(join(values.data, "transactions"))) fail("--data DIR (an existing dataset folder) is required");
const data = resolve(values.data ?? "");
const label = values.label ?? basename(data);
if (!/^[\w.-]+$/.test(label)) fail(`--label: letters, digits, . _ - only, not "${label}"`);
const concurrent = Number(values.concurrent);
if (!Number.isInteger(concurrent) || concurrent < 0) fail(`--concurrent: a count ≥ 0, not "${values.concurrent}"`);
const maxSeconds = values["max-seconds"] === undefined ? null : Number(values["max-seconds"]);
if (maxSeconds !== null && !(maxSeconds > 0)) fail(`--max-seconds: a positive number, not "${values["max-seconds"]}"`);
const { deploy, work, outDir, bin } = prepareClusterBench(values, fail);

const LIMITS = { vsDuckdb: 4, concurrentVsSolo: 3, rssMb: 150 };
const round = (x: number, digits = 2): number => +x.toFixed(digits);
const log = (line: string): void => console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${line}`);
const startedAt = new Date();
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(" ");
/** Share of all cores busy over one second, from /proc/stat (the load average lags a minute behind). */
async function machineBusy(): Promise<number | null> {
  const read = (): number[] | null => {
    try {
      // user nice system idle iowait irq softirq steal: guest time is already inside user and nice.
      return readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    } catch {
      return null; // not Linux: no figure
    }
  };
  const a = read();
  await Bun.sleep(1000); // a sampling period, not a wait for an event
  const b = read();
  if (!a || !b) return null;
  const total = b.reduce((x, y) => x + y, 0) - a.reduce((x, y) => x + y, 0);
  const idle = (b[3]! + (b[4] ?? 0)) - (a[3]! + (a[4] ?? 0)); // idle + iowait
  return total > 0 ? 1 - idle / total : null;
}
/** Other work on the machine skews every figure: said in the report, not hidden in a number. */
const busyShare = await machineBusy();
const busyAtStart = busyShare !== null && busyShare > 0.25;
if (busyAtStart) console.error(`[scale] warning: the cores were ${Math.round(100 * busyShare!)} % busy before the run: figures will be slower than an idle machine's`);
const git = (...args: string[]): string => Bun.spawnSync(["git", ...args], { cwd: ROOT }).stdout.toString().trim();
const commit = git("rev-parse", "--short", "HEAD") + (git("status", "--porcelain") ? "+dirty" : "");

/** Data rows per entity: newlines minus one header per file (a quoted newline would count too; close enough). */
function entityRows(): Record<string, number> {
  const rows: Record<string, number> = {};
  for (const entity of ENTITIES) {
    const dir = join(data, entity);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.toLowerCase().endsWith(".csv")).map((f) => join(dir, f)) : [];
    // wc reads every file once; that also warms the page cache, so DuckDB and coffee both read warm files.
    const out = files.length ? Bun.spawnSync(["wc", "-l", ...files]).stdout.toString().trim().split("\n") : [];
    const total = Number(/^\s*(\d+)/.exec(out[out.length - 1] ?? "")?.[1] ?? 0);
    rows[entity] = Math.max(0, total - files.length);
  }
  return rows;
}

/** rowsSent is null when the client's summary line could not be read. */
interface Session { seconds: number; rowsSent: number | null; exact: boolean; error?: string }
interface ProcRow { name: string; group: string; role: string; cpuSeconds: number; peakRssMb: number | null }
interface Phase { name: string; clients: number; wallSeconds: number; sessions: Session[]; processes: ProcRow[]; restarted: string[] }

/** One phase: `clients` sessions started at once against the ready cluster, measured from /proc. */
async function phase(name: string, clients: number, stateDir: string, port: number, upPid: number, expected: Record<string, string>): Promise<Phase> {
  const pids = clusterPids(stateDir, upPid);
  resetPeaks(pids);
  const before = sample(pids);
  const outRoot = join(work, "out", name);
  rmSync(outRoot, { recursive: true, force: true });
  const t0 = performance.now();
  // run() spawns before its first await, so every client starts in the same tick.
  const settled = await Promise.allSettled(Array.from({ length: clients }, (_, i) =>
    run(bin, ["--role", "client", "--data", data, "--out", join(outRoot, `client-${i + 1}`), "--gateway", `127.0.0.1:${port}`, "--quiet"])));
  const wallSeconds = (performance.now() - t0) / 1000;
  const afterPids = clusterPids(stateDir, upPid);
  const after = sample(afterPids);
  const processes: ProcRow[] = [...after].map(([pid, s]: [number, ProcSample]) => ({
    name: s.name, group: s.group, role: s.role, cpuSeconds: round((s.ticks - (before.get(pid)?.ticks ?? 0)) / clockTicks), peakRssMb: s.peakRssMb === null ? null : round(s.peakRssMb, 1),
  }));
  const sessions = settled.map((r, i): Session => {
    if (r.status === "rejected") return { seconds: round(wallSeconds), rowsSent: 0, exact: false, error: String(r.reason instanceof Error ? r.reason.message : r.reason) };
    const d: Finished = r.value;
    processes.push({ name: `client-${i + 1}`, group: "client", role: "client", cpuSeconds: round(d.cpuSeconds), peakRssMb: d.ownPeakRssMb === null ? null : round(d.ownPeakRssMb, 1) });
    const dir = /results in (.+)$/m.exec(d.stdout)?.[1];
    const exact = dir !== undefined && QUERIES.every((q) => {
      const file = join(dir, queryFileName(q));
      return existsSync(file) && readFileSync(file, "utf8") === expected[queryFileName(q)];
    });
    const sent = /(\d+) rows sent/.exec(d.stdout)?.[1];
    return { seconds: round((d.end - d.start) / 1000), rowsSent: sent === undefined ? null : Number(sent), exact };
  });
  const restarted = [...before].filter(([pid, s]) => s.group !== BROKER && afterPids.find((p) => p.name === s.name)?.pid !== pid).map(([, s]) => s.name);
  return { name, clients, wallSeconds: round(wallSeconds), sessions, processes, restarted };
}

/** CPU seconds per group of a phase, in first-seen order with the broker last. */
function cpuByGroup(p: Phase): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of [...p.processes].sort((a, b) => +(a.group === BROKER) - +(b.group === BROKER))) m.set(r.group, (m.get(r.group) ?? 0) + r.cpuSeconds);
  return m;
}

/** The entity a worker group's chain is fed from (its head stage's `in.<entity>` binding); null for non-workers. */
function groupEntity(group: string): string | null {
  const chain = group.endsWith(" chain") ? chainByName(group.slice(0, -" chain".length)) : stageByName(group) ? chainOf(group) : undefined;
  const head = chain?.stages[0];
  return ENTITIES.find((e) => head !== undefined && stageByName(head)?.inputs.includes(dataKey(e))) ?? null;
}

// ---- main

const phases: Phase[] = [];
const errors: string[] = [];
let duck: { seconds: number; rows: number } | null = null;
let rows: Record<string, number> = {};
try {
  log(`counting rows of ${data}`);
  rows = entityRows();
  log(`rows per entity: ${Object.entries(rows).map(([e, n]) => `${e} ${n}`).join(", ")}`);
  log("duckdb (2 threads) started");
  const d = await runDuckdb(data, 2);
  duck = { seconds: round(d.seconds, 3), rows: d.rows };
  log(`duckdb finished: ${round(duck.seconds)} s, ${d.rows} rows`);
  const port = freeTcpPort();
  const stateDir = join(work, "state");
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const t = performance.now();
  // amqp, not auto: a missing broker must fail the bench, not measure the in-memory transport.
  const up = await startUp(bin, ["up", "--transport", "amqp", "--state-dir", stateDir, "--port", String(port),
    "--namespace", `benchscale${process.pid}x${port}`, "--monitors", "1", "--delete-on-exit", "--deploy", deploy,
    "--max-sessions", String(Math.max(5, concurrent))], join(stateDir, "up.log"));
  log(`coffee up ready in ${round((performance.now() - t) / 1000)} s (${deploy}, port ${port})`);
  for (const [name, clients] of [["solo", 1], ["solo-warm", concurrent > 0 ? 1 : 0], ["concurrent", concurrent]] as const) {
    if (clients === 0 || isInterrupted()) continue;
    log(`${name} phase started: ${clients} client(s)`);
    const p = await phase(name, clients, stateDir, port, up.pid, d.results);
    phases.push(p);
    const slowest = Math.max(...p.sessions.map((s) => s.seconds));
    const soloS = phases[0]?.sessions[0]?.seconds ?? slowest;
    log(`${name} phase finished: wall ${p.wallSeconds} s, sessions ${p.sessions.map((s) => `${s.seconds} s${s.exact ? "" : " NOT EXACT"}`).join(", ")}` +
      (name !== "concurrent" ? ` = ${round(slowest / duck.seconds)}× DuckDB` : ` (slowest = ${round(slowest / soloS)}× cold solo)`) +
      `${p.restarted.length ? `, RESTARTED ${p.restarted.join(",")}` : ""}`);
    for (const s of p.sessions) if (s.error) errors.push(`${name}: ${s.error}`);
  }
} catch (err) {
  errors.push(err instanceof Error ? err.message : String(err));
  log(`FAILED: ${errors[errors.length - 1]}`);
} finally {
  await stopLive();
}
// An interrupted run is no result: write nothing and leave the exit (130) to the signal handler.
if (isInterrupted()) { await Bun.sleep(10_000); process.exit(130); }

// ---- targets and report

const solo = phases.find((p) => p.name === "solo");
const warm = phases.find((p) => p.name === "solo-warm");
const conc = phases.find((p) => p.name === "concurrent");
const soloSeconds = solo?.sessions[0]?.error === undefined ? solo?.sessions[0]?.seconds ?? null : null;
const warmSeconds = warm?.sessions[0]?.error === undefined ? warm?.sessions[0]?.seconds ?? null : null;
const rowsSent = solo?.sessions[0]?.rowsSent ?? null;
// Before `exact` and `pass` are computed: a run that cannot say what it sent does not pass.
if (solo && solo.sessions[0]?.error === undefined && rowsSent === null) errors.push("solo: the client's summary did not say how many rows it sent");
const allSessions = phases.flatMap((p) => p.sessions);
const exact = allSessions.length > 0 && allSessions.every((s) => s.exact) && errors.length === 0;
const ratio = soloSeconds !== null && duck ? round(soloSeconds / duck.seconds) : null;
const concMax = conc ? Math.max(...conc.sessions.map((s) => s.seconds)) : null;
/** Against the warm solo: the cold one includes the cluster's warm-up, which five sessions share, and would flatter the ratio. */
const concRatio = concMax !== null && warmSeconds ? round(concMax / warmSeconds) : null;
const concRatioCold = concMax !== null && soloSeconds ? round(concMax / soloSeconds) : null;
/**
 * The CPU floor of the concurrent target: the concurrent phase's CPU seconds (every process, the
 * broker and clients included) spread over all cores is the shortest wall time it could take;
 * over the solo time it is the smallest ratio this machine allows for that work.
 */
const totalCpu = (p: Phase | undefined): number => (p ? [...cpuByGroup(p).values()].reduce((a, b) => a + b, 0) : 0);
const cores = cpus().length;
const concCpu = totalCpu(conc);
// A failed phase measured nothing worth a floor: "—" rather than a floor of 0 s.
const concFloorSeconds = conc && concCpu > 0 && conc.sessions.every((s) => s.error === undefined) ? round(concCpu / cores) : null;
const concFloorRatio = concFloorSeconds !== null && warmSeconds ? round(concFloorSeconds / warmSeconds) : null;
const warmBusy = warmSeconds ? Math.round((100 * totalCpu(warm)) / (cores * warmSeconds)) : null;
/**
 * The clients run on the same cores; without their CPU the floor would be this (a deployment with
 * clients elsewhere). Biased low: the warm solo it is divided by had its client on the cores too.
 */
const clientCpu = conc ? conc.processes.filter((r) => r.group === "client").reduce((a, r) => a + r.cpuSeconds, 0) : 0;
const concFloorNoClientsRatio = concFloorSeconds !== null && warmSeconds ? round((concCpu - clientCpu) / cores / warmSeconds) : null;
/** Each process's largest peak over the phases (null = never measured). */
const peakOf = new Map<string, { role: string; mb: number }>();
for (const r of phases.flatMap((p) => p.processes)) {
  if (r.peakRssMb !== null && r.role !== "client") peakOf.set(r.name, { role: r.role, mb: Math.max(peakOf.get(r.name)?.mb ?? 0, r.peakRssMb) });
}
const capped = [...peakOf].filter(([, v]) => v.role === "gateway" || v.role === "worker");
const maxPeak = (role: string): number | null => { const xs = capped.filter(([, v]) => v.role === role).map(([, v]) => v.mb); return xs.length ? Math.max(...xs) : null; };

const verdict = (ok: boolean | null): string => (ok === null ? "FAIL (not measured)" : ok ? "PASS" : "FAIL");
const targets: { target: string; measured: string; limit: string; ok: boolean | null }[] = [
  { target: "every session exact (= DuckDB)", measured: `${allSessions.filter((s) => s.exact).length} of ${allSessions.length}${errors.length ? `; ${errors.length} error(s)` : ""}`, limit: "all", ok: allSessions.length ? exact : null },
  { target: "solo client vs DuckDB (2 threads)", measured: `${soloSeconds ?? "—"} s vs ${duck ? round(duck.seconds) : "—"} s = ${ratio ?? "—"}×`, limit: `≤ ${LIMITS.vsDuckdb}×`, ok: ratio === null ? null : ratio <= LIMITS.vsDuckdb },
];
if (concurrent > 0) {
  targets.push({
    target: `${concurrent} concurrent: slowest session vs warm solo`,
    measured: `${concMax ?? "—"} s = ${concRatio ?? "—"}× warm solo ${warmSeconds ?? "—"} s (${concRatioCold ?? "—"}× the cold solo; each ${conc?.sessions.map((s) => s.seconds).join(", ") ?? "—"} s); ` +
      `CPU floor ${concFloorSeconds ?? "—"} s = ${concFloorRatio ?? "—"}× (${concFloorSeconds === null ? "—" : round(concCpu)} CPU-s / ${cores} cores; warm solo kept the cores ${warmBusy ?? "—"} % busy; ` +
      `without the clients' ${round(clientCpu)} CPU-s: ${concFloorNoClientsRatio ?? "—"}×, a lower bound)`,
    limit: `≤ ${LIMITS.concurrentVsSolo}×`, ok: concRatio === null ? null : concRatio <= LIMITS.concurrentVsSolo,
  });
}
for (const [name, v] of capped) targets.push({ target: `peak RSS ${name}`, measured: `${v.mb} MB`, limit: `≤ ${LIMITS.rssMb} MB`, ok: v.mb <= LIMITS.rssMb });
if (!capped.length) targets.push({ target: "peak RSS gateway and workers", measured: "—", limit: `≤ ${LIMITS.rssMb} MB`, ok: null });
if (maxSeconds !== null) targets.push({ target: "solo client time", measured: `${soloSeconds ?? "—"} s`, limit: `≤ ${maxSeconds} s`, ok: soloSeconds === null ? null : soloSeconds <= maxSeconds });
const pass = targets.every((t) => t.ok === true);

const command = `bun bench/scale.ts ${process.argv.slice(2).join(" ")}`.trim();
const binary = bin[0] === DIST_BIN ? "dist/coffee" : "bun src/main.ts (not built)";
const md: string[] = [
  `# Scale: ${label}`, "",
  `\`${command}\` — ${startedAt.toISOString()}, commit ${commit}, deploy \`${deploy}\`, 1 monitor (default 3), ${binary}; ${cpus().length} cores, load average at start ${loadAtStart}, cores ${busyShare === null ? "—" : `${Math.round(100 * busyShare)} %`} busy in the second before${busyAtStart ? " (**busy: figures slower than on an idle machine**)" : ""}.`, "",
  `Dataset \`${data}\`: ${Object.entries(rows).map(([e, n]) => `${e} ${n}`).join(", ")} rows; the solo client sent ${rowsSent ?? "—"}, DuckDB accepted ${duck?.rows ?? "—"}. ` +
    "Session time = client start → exit with its four files; the solo session is the cluster's first (warm-up included), solo-warm the second. " +
    "CPU is user + system from /proc per phase; peak RSS is VmHWM, reset before each phase (clients: polled every 50 ms while they run).", "",
  "## Targets", "", "| target | measured | limit | result |", "| --- | --- | --- | --- |",
  ...targets.map((t) => `| ${t.target} | ${t.measured} | ${t.limit} | ${verdict(t.ok)} |`),
];
if (solo && soloSeconds) {
  const cpu = cpuByGroup(solo);
  md.push("", "## Rows/s per stage (solo)", "",
    "Gateway: rows the client sent. Workers: rows of the entity feeding their chain (an upper bound for stages after the first in split mode). " +
    "Rows/s is over the whole session (every stage runs at once), so it does not show the bottleneck; rows per CPU-s does.", "",
    "| stage | rows in | rows/s (wall) | CPU s | rows per CPU-s |", "| --- | ---: | ---: | ---: | ---: |");
  for (const g of ["gateway", ...[...cpu.keys()].filter((g) => groupEntity(g) !== null)]) {
    const n = g === "gateway" ? rowsSent ?? 0 : rows[groupEntity(g) ?? ""] ?? 0;
    const c = cpu.get(g) ?? 0;
    md.push(`| ${g} | ${n} | ${Math.round(n / soloSeconds)} | ${round(c)} | ${c > 0 ? Math.round(n / c) : "—"} |`);
  }
}
if (phases.length) {
  const groupCpu = phases.map(cpuByGroup);
  const totals = groupCpu.map((m) => [...m.values()].reduce((a, b) => a + b, 0));
  const groups = [...new Set(groupCpu.flatMap((m) => [...m.keys()]))];
  md.push("", "## Where time goes (CPU s per group, share of the total incl. broker and client)", "",
    "The broker is the shared RabbitMQ node: other users of it count too.", "",
    `| group | ${phases.map((p) => `${p.name} (${p.clients}) CPU s | share`).join(" | ")} |`, `| --- | ${phases.map(() => "---: | ---:").join(" | ")} |`,
    ...groups.map((g) => `| ${g} | ${groupCpu.map((m, i) => `${round(m.get(g) ?? 0)} | ${totals[i] ? Math.round((100 * (m.get(g) ?? 0)) / totals[i]!) : 0} %`).join(" | ")} |`),
    `| **total** | ${totals.map((t) => `${round(t)} | 100 %`).join(" | ")} |`,
    `| wall s | ${phases.flatMap((p) => [String(p.wallSeconds), ""]).join(" | ")} |`,
    "", "## Per process", "", `| process | ${phases.map((p) => `${p.name} CPU s | ${p.name} peak RSS MB`).join(" | ")} |`, `| --- | ${phases.map(() => "---: | ---:").join(" | ")} |`);
  const names = [...new Set(phases.flatMap((p) => p.processes.filter((r) => r.group !== BROKER).map((r) => r.name)))];
  for (const n of names) md.push(`| ${n} | ${phases.map((p) => { const r = p.processes.find((x) => x.name === n); return r ? `${r.cpuSeconds} | ${r.peakRssMb ?? "—"}` : "— | —"; }).join(" | ")} |`);
}
const problems = [...errors, ...phases.filter((p) => p.restarted.length).map((p) => `${p.name}: restarted during the phase: ${p.restarted.join(", ")}`)];
if (problems.length) md.push("", "## Problems", "", ...problems.map((p) => `- ${p}`));
md.push("", `**${pass ? "PASS" : "FAIL"}**`, "");

const report = md.join("\n");
console.log(report);
writeFileSync(join(outDir, `scale-${label}.md`), report);
writeFileSync(join(outDir, `scale-${label}.json`), JSON.stringify({
  date: startedAt.toISOString(), command, label, commit, deploy, data, binary, loadAtStart, clockTicks, entityRows: rows, rowsSent,
  duckdb: duck, soloSeconds, warmSoloSeconds: warmSeconds, ratio, concurrent,
  // concurrentMaxOverSolo keeps its meaning of earlier history lines (the cold solo).
  concurrentMaxOverSolo: concRatioCold, concurrentMaxOverWarmSolo: concRatio,
  cores, concurrentCpuSeconds: round(concCpu), concurrentClientCpuSeconds: round(clientCpu), cpuFloorRatio: concFloorRatio, maxSeconds, targets, phases, errors, pass,
}, null, 2) + "\n");
appendFileSync(join(outDir, "scale-history.jsonl"), JSON.stringify({
  date: startedAt.toISOString(), label, rows: rowsSent, soloSeconds, warmSoloSeconds: warmSeconds, duckdbSeconds: duck?.seconds ?? null, ratio,
  concurrent, concurrentMaxOverSolo: concRatioCold, concurrentMaxOverWarmSolo: concRatio, cpuFloorRatio: concFloorRatio,
  concurrentCpuSeconds: round(concCpu), concurrentClientCpuSeconds: round(clientCpu), cores, loadAtStart, busyShareAtStart: busyShare === null ? null : round(busyShare),
  gatewayPeakRssMb: maxPeak("gateway"), workersPeakRssMb: maxPeak("worker"),
  commit, deploy, exact, pass,
}) + "\n");
log(`wrote ${join(outDir, `scale-${label}.md`)}, scale-${label}.json, scale-history.jsonl`);
process.exit(pass ? 0 : 1);
