/**
 * Replica scaling: the local cluster (`coffee up` on the broker at AMQP_URL) with 1, 2 and 4
 * replicas of every stateless stage, under steady load (one client) and a burst (N clients
 * started at once), on several dataset sizes, with `coffee reference` on the same data as the
 * single-process baseline. Every session's result files are compared byte for byte with the
 * reference. CPU seconds and peak RSS per stage come from /proc (Linux only), measured per
 * phase. Writes OUT/replicas.md, OUT/replicas.json and OUT/replicas.svg.
 *
 *   bun bench/replicas.ts [--sizes 20000,100000,330000] [--months 2024-05..2024-05]
 *                         [--replicas 1,2,4] [--burst 5] [--deploy fused|split]
 *                         [--work /tmp/coffee-bench-replicas] [--out bench/results]
 *
 * --sizes are transactions per month; users scale with them. Uses dist/coffee when built
 * (`bun run build`), else runs from source. Run it on a quiet machine: everything, the broker
 * included, shares the same cores.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { freeTcpPort } from "../src/ports.ts";
import { redactUrl } from "../src/redact.ts";
import { QUERIES, queryFileName } from "../src/schema.ts";
import { STAGES } from "../src/topology.ts";
import {
  BROKER, DIST_BIN, clockTicks, clusterPids, prepareClusterBench, resetPeaks, run as runCoffee, sample, startUp, stopLive,
  type Child, type Finished,
} from "./procStats.ts";
import { groupedBarChart } from "./svgChart.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, {
  sizes: { type: "string", default: "20000,100000,330000" },
  months: { type: "string", default: "2024-05..2024-05" },
  replicas: { type: "string", default: "1,2,4" },
  burst: { type: "string", default: "5" },
  deploy: { type: "string", default: "fused" },
  work: { type: "string", default: "/tmp/coffee-bench-replicas" },
  out: { type: "string", default: "" },
});
const positiveInts = (flag: string, s: string): number[] =>
  s.split(",").map((part) => {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: "${part}" is not a positive integer`);
    return n;
  });
const sizes = positiveInts("sizes", values.sizes);
const replicaCounts = positiveInts("replicas", values.replicas);
const burst = positiveInts("burst", values.burst)[0] ?? 5;
const { deploy, work, outDir, bin } = prepareClusterBench(values, (msg) => {
  throw new Error(msg);
});
/** Run coffee to completion; its own CPU and peak RSS come from the kernel's rusage. */
const run = (args: string[]): Promise<Finished> => runCoffee(bin, args);

// ---- results

interface SizeResult {
  transactionsPerMonth: number;
  users: number;
  rows: number;
  reference: { seconds: number; rowsPerSecond: number; cpuSeconds: number; peakRssMb: number };
}
type Load = "steady" | "burst";
interface Run {
  transactionsPerMonth: number;
  rows: number;
  replicas: number;
  load: Load;
  clients: number;
  wallSeconds: number;
  rowsPerSecond: number;
  latencySeconds: { min: number; median: number; max: number; each: number[] };
  exact: boolean;
  /** Per row label: CPU seconds of this phase, summed over the label's processes. */
  cpuSeconds: Record<string, number>;
  /** Per row label: the largest peak RSS of one of its processes in this phase, MB. */
  peakRssMb: Record<string, number>;
  processes: Record<string, number>;
  /** Processes whose pid changed during the phase (restarted): their CPU before the restart is lost. */
  restarted: string[];
}
interface Failure { transactionsPerMonth: number; replicas: number; error: string }

const sizeResults: SizeResult[] = [];
const runs: Run[] = [];
const failures: Failure[] = [];
const startedAt = new Date();
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(" ");

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const round = (x: number, digits = 2): number => +x.toFixed(digits);

/** One phase: `clients` sessions started at once against a ready cluster, measured. */
async function phase(size: SizeResult, data: string, refDir: string, replicas: number, load: Load, clients: number,
  stateDir: string, port: number, upPid: number): Promise<Run> {
  const pids = clusterPids(stateDir, upPid);
  resetPeaks(pids);
  const before = sample(pids);
  const outRoot = join(work, "out", `${size.transactionsPerMonth}-${replicas}-${load}`);
  rmSync(outRoot, { recursive: true, force: true });
  // run() spawns before its first await, so all clients start in the same tick.
  const done = await Promise.all(Array.from({ length: clients }, (_, i) =>
    run(["--role", "client", "--data", data, "--out", join(outRoot, `client-${i + 1}`), "--gateway", `127.0.0.1:${port}`, "--quiet"])));
  const afterPids = clusterPids(stateDir, upPid);
  const after = sample(afterPids);

  const cpuSeconds: Record<string, number> = {};
  const peakRssMb: Record<string, number> = {};
  const processes: Record<string, number> = {};
  for (const [pid, s] of after) {
    cpuSeconds[s.group] = (cpuSeconds[s.group] ?? 0) + (s.ticks - (before.get(pid)?.ticks ?? 0)) / clockTicks;
    if (s.peakRssMb !== null) peakRssMb[s.group] = Math.max(peakRssMb[s.group] ?? 0, s.peakRssMb);
    processes[s.group] = (processes[s.group] ?? 0) + 1;
  }
  cpuSeconds.client = done.reduce((a, d) => a + d.cpuSeconds, 0);
  peakRssMb.client = Math.max(...done.map((d) => d.peakRssMb));
  processes.client = clients;
  for (const k of Object.keys(cpuSeconds)) cpuSeconds[k] = round(cpuSeconds[k] ?? 0);
  for (const k of Object.keys(peakRssMb)) peakRssMb[k] = round(peakRssMb[k] ?? 0, 1);

  const exact = done.every((d) => {
    const dir = /results in (.+)$/m.exec(d.stdout)?.[1];
    return dir !== undefined && QUERIES.every((q) => {
      const file = join(dir, queryFileName(q));
      return existsSync(file) && readFileSync(file).equals(readFileSync(join(refDir, queryFileName(q))));
    });
  });
  const latencies = done.map((d) => (d.end - d.start) / 1000);
  const wallSeconds = (Math.max(...done.map((d) => d.end)) - Math.min(...done.map((d) => d.start))) / 1000;
  const restarted = [...before].filter(([pid, s]) => s.group !== BROKER && afterPids.find((p) => p.name === s.name)?.pid !== pid).map(([, s]) => s.name);
  return {
    transactionsPerMonth: size.transactionsPerMonth, rows: size.rows, replicas, load, clients,
    wallSeconds: round(wallSeconds), rowsPerSecond: Math.round((size.rows * clients) / wallSeconds),
    latencySeconds: { min: round(Math.min(...latencies)), median: round(median(latencies)), max: round(Math.max(...latencies)), each: latencies.map((l) => round(l)) },
    exact, cpuSeconds, peakRssMb, processes, restarted,
  };
}

/** Start `coffee up` with `replicas` of every stage and wait for its "ready" line. */
async function startCluster(replicas: number, stateDir: string, port: number, namespace: string): Promise<Child> {
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  // amqp, not auto: a missing broker must fail the bench, not measure the in-memory transport.
  return startUp(bin, ["up", "--transport", "amqp", "--state-dir", stateDir, "--port", String(port), "--namespace", namespace,
    "--monitors", "1", "--delete-on-exit", "--deploy", deploy, "--max-sessions", String(Math.max(5, burst)),
    "--replicas", STAGES.map((s) => `${s.name}=${replicas}`).join(",")], join(stateDir, "up.log"));
}

// ---- output

function writeOutputs(): void {
  const command = `bun bench/replicas.ts ${process.argv.slice(2).join(" ")}`.trim();
  const cpu = cpus();
  const broker = process.env.AMQP_URL ? redactUrl(process.env.AMQP_URL)
    : process.env.AMQP_URL_FILE ? `the URL in ${process.env.AMQP_URL_FILE}` : "amqp://guest:***@127.0.0.1:5672 (default)";
  const binary = bin[0] === DIST_BIN ? `dist/coffee (built ${statSync(DIST_BIN).mtime.toISOString()})` : "bun src/main.ts (not built)";
  const machine = { cores: cpu.length, cpu: cpu[0]?.model ?? "?", memGb: round(totalmem() / 2 ** 30, 1), loadAtStart, bun: Bun.version, broker, binary, clockTicks };
  writeFileSync(join(outDir, "replicas.json"), JSON.stringify({ date: startedAt.toISOString(), command, machine, deploy, burst, sizes: sizeResults, runs, failures }, null, 2) + "\n");

  const find = (tx: number, r: number, load: Load): Run | undefined => runs.find((x) => x.transactionsPerMonth === tx && x.replicas === r && x.load === load);
  const cell = (x: Run | undefined, f: (r: Run) => string): string => (x ? f(x) : "—");
  const md: string[] = [
    "# Replica scaling",
    "",
    `\`${command}\` — ${startedAt.toISOString()}, deploy \`${deploy}\`, months \`${values.months}\`.`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memGb} GB RAM, load average at start ${loadAtStart}; ` +
      `Bun ${machine.bun}; RabbitMQ at ${broker} on the same machine; ${binary}.`,
    "",
    `Each replica count is one \`coffee up\` (1 monitor, every stateless stage at N replicas): first one client (steady; also the ` +
      `cluster's first session, warm-up included), then ${burst} clients started at once (burst), all on the same dataset. ` +
      `rows/s = dataset rows × sessions / (first client start → last client exit); latency = one session's client start → exit. ` +
      `The reference is one \`coffee reference\` process on the same data.`,
    "",
    "## Throughput and latency",
    "",
    `| rows | load | reference rows/s | ${replicaCounts.map((r) => `${r}× rows/s | ${r}× p50 / max s`).join(" | ")} | exact |`,
    `| ---: | --- | ---: | ${replicaCounts.map(() => "---: | ---:").join(" | ")} | --- |`,
  ];
  for (const s of sizeResults) {
    for (const load of ["steady", "burst"] as const) {
      const row = replicaCounts.map((r) => find(s.transactionsPerMonth, r, load));
      const wrong = replicaCounts.filter((_, i) => row[i] && !row[i]!.exact);
      md.push(`| ${s.rows} | ${load} (${load === "steady" ? 1 : burst}) | ${s.reference.rowsPerSecond} | ` +
        row.map((x) => `${cell(x, (v) => String(v.rowsPerSecond))} | ${cell(x, (v) => `${v.latencySeconds.median} / ${v.latencySeconds.max}`)}`).join(" | ") +
        ` | ${row.every((x) => x === undefined) ? "—" : wrong.length ? `no (${wrong.map((r) => `${r}×`).join(", ")})` : "yes"} |`);
    }
  }
  const largest = sizeResults.reduce<SizeResult | undefined>((a, s) => (!a || s.rows > a.rows ? s : a), undefined);
  if (largest) {
    const cols = replicaCounts.flatMap((r) => (["steady", "burst"] as const).map((load) => ({ r, load, run: find(largest.transactionsPerMonth, r, load) })));
    const groups = [...new Set(cols.flatMap((c) => (c.run ? Object.keys(c.run.cpuSeconds) : [])))].sort((a, b) => (a === BROKER ? 1 : 0) - (b === BROKER ? 1 : 0));
    const header = `| | ${cols.map((c) => `${c.r}× ${c.load}`).join(" | ")} |`;
    const rule = `| --- | ${cols.map(() => "---:").join(" | ")} |`;
    md.push("", `## CPU seconds per stage (${largest.rows} rows)`, "",
      `Per phase, summed over a stage's replicas (user + system, /proc/<pid>/stat). Workers run ${deploy === "fused" ? "fused per chain, so a chain's replicas share one row" : "one process per stage"}. ` +
      `The broker is the shared RabbitMQ node (other users of it count too); total excludes it.`, "", header, rule);
    for (const g of groups) md.push(`| ${g} | ${cols.map((c) => cell(c.run, (v) => String(v.cpuSeconds[g] ?? "—"))).join(" | ")} |`);
    const total = (v: Run): string => String(round(Object.entries(v.cpuSeconds).filter(([k]) => k !== BROKER).reduce((a, [, x]) => a + x, 0)));
    md.push(`| **total** | ${cols.map((c) => cell(c.run, total)).join(" | ")} |`);
    md.push(`| wall s | ${cols.map((c) => cell(c.run, (v) => String(v.wallSeconds))).join(" | ")} |`);
    md.push("", `## Peak RSS per process, MB (${largest.rows} rows)`, "",
      "Largest VmHWM of one process of the stage during the phase (reset before each phase); client from its rusage.", "", header, rule);
    for (const g of groups.filter((g) => g !== BROKER)) md.push(`| ${g} | ${cols.map((c) => cell(c.run, (v) => String(v.peakRssMb[g] ?? "—"))).join(" | ")} |`);
    md.push("", `Reference on the same data: ${largest.reference.seconds} s, ${largest.reference.cpuSeconds} CPU s, peak RSS ${largest.reference.peakRssMb} MB.`);
  }
  const restarts = runs.filter((r) => r.restarted.length);
  if (restarts.length || failures.length) md.push("", "## Problems", "");
  for (const r of restarts) md.push(`- ${r.rows} rows, ${r.replicas}× ${r.load}: restarted during the phase: ${r.restarted.join(", ")}`);
  for (const f of failures) md.push(`- ${f.transactionsPerMonth} transactions/month, ${f.replicas}×: ${f.error}`);
  md.push("", "![throughput by size, replicas and load](replicas.svg)", "");
  writeFileSync(join(outDir, "replicas.md"), md.join("\n"));

  const series = (["steady", "burst"] as const).flatMap((load) => replicaCounts.map((r) => ({ r, load })));
  writeFileSync(join(outDir, "replicas.svg"), groupedBarChart({
    title: `coffee throughput by replicas (${deploy}, ${machine.cores} cores)`,
    xLabel: "dataset rows",
    yLabel: "rows/s (all sessions)",
    series: series.map(({ r, load }) => `${r}× ${load}${load === "burst" ? ` (${burst})` : ""}`),
    // Steady in blues, burst in oranges, darker = more replicas: the two loads read apart at a glance.
    colors: series.map(({ load }, i) => {
      const shade = i % replicaCounts.length;
      return (load === "steady" ? ["#9ecae1", "#4292c6", "#08519c", "#08306b"] : ["#fdae6b", "#f16913", "#a63603", "#7f2704"])[Math.min(shade, 3)] ?? "#888";
    }),
    groups: sizeResults.map((s) => ({
      label: `${s.rows.toLocaleString("en-US")}`,
      values: series.map(({ r, load }) => find(s.transactionsPerMonth, r, load)?.rowsPerSecond ?? null),
      marker: s.reference.rowsPerSecond,
    })),
    markerLabel: "coffee reference",
  }));
}

// ---- main

try {
  for (const tx of sizes) {
    // ~40 000 users per 330 000 transactions, as in bench/throughput.ts.
    const users = Math.max(100, Math.round(tx / 8));
    const data = join(work, `data-${values.months}-${tx}-${users}`);
    if (!existsSync(data)) {
      // Generate next to the target and rename, so an interrupted gen is never mistaken for a dataset.
      rmSync(`${data}.tmp`, { recursive: true, force: true });
      await run(["gen", "--out", `${data}.tmp`, "--months", values.months, "--transactions-per-month", String(tx), "--users", String(users), "--quiet"]);
      renameSync(`${data}.tmp`, data);
    }
    const refDir = join(work, `ref-${tx}`);
    rmSync(refDir, { recursive: true, force: true });
    const ref = await run(["reference", "--data", data, "--out", refDir, "--quiet"]);
    const rows = Number(/^reference: (\d+) rows read,/m.exec(ref.stdout)?.[1] ?? NaN);
    if (!Number.isFinite(rows)) throw new Error(`no "rows read" in coffee reference's output: ${ref.stdout}`);
    const refSeconds = (ref.end - ref.start) / 1000;
    const size: SizeResult = {
      transactionsPerMonth: tx, users, rows,
      reference: { seconds: round(refSeconds), rowsPerSecond: Math.round(rows / refSeconds), cpuSeconds: round(ref.cpuSeconds), peakRssMb: round(ref.peakRssMb, 1) },
    };
    sizeResults.push(size);
    console.log(`${tx} tx/month, ${rows} rows: reference ${size.reference.seconds} s, ${size.reference.rowsPerSecond} rows/s`);

    for (const replicas of replicaCounts) {
      const port = freeTcpPort();
      const stateDir = join(work, "state", `${tx}-${replicas}`);
      try {
        const up = await startCluster(replicas, stateDir, port, `benchrep${process.pid}x${port}`);
        for (const [load, clients] of [["steady", 1], ["burst", burst]] as const) {
          const r = await phase(size, data, refDir, replicas, load, clients, stateDir, port, up.pid);
          runs.push(r);
          const cpuTotal = round(Object.entries(r.cpuSeconds).filter(([k]) => k !== BROKER).reduce((a, [, x]) => a + x, 0));
          console.log(`${rows} rows, ${replicas}× ${load} (${clients}): ${r.wallSeconds} s, ${r.rowsPerSecond} rows/s, ` +
            `latency min/p50/max ${r.latencySeconds.min}/${r.latencySeconds.median}/${r.latencySeconds.max} s, exact ${r.exact}, ` +
            `cpu ${cpuTotal} s + broker ${r.cpuSeconds[BROKER] ?? "?"} s${r.restarted.length ? `, RESTARTED ${r.restarted.join(",")}` : ""}`);
        }
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failures.push({ transactionsPerMonth: tx, replicas, error });
        console.error(`${rows} rows, ${replicas}×: FAILED: ${error}`);
      } finally {
        await stopLive();
      }
      // After every cluster, so an interrupted run still leaves what it measured.
      writeOutputs();
    }
  }
} finally {
  await stopLive();
}
writeOutputs();
console.log(`wrote ${join(outDir, "replicas.md")}, replicas.json, replicas.svg`);
process.exit(failures.length === 0 && runs.every((r) => r.exact) ? 0 : 1);
