/**
 * What the cluster benchmarks (bench/replicas.ts, bench/scale.ts) share: running `coffee`
 * commands as tracked child processes that a failure or ^C never leaves behind, starting a
 * `coffee up` and waiting for its "ready" line, and measuring a cluster's processes from /proc
 * (Linux only): CPU ticks and peak RSS per process, with peaks reset per phase.
 *
 *   import { prepareClusterBench, run, startUp, clusterPids, resetPeaks, sample } from "./procStats.ts";
 *   const { deploy, work, outDir, bin } = prepareClusterBench(values, fail);
 *   const up = await startUp(bin, ["up", "--state-dir", dir, ...], join(dir, "up.log"));
 *   const pids = clusterPids(dir, up.pid); resetPeaks(pids); const before = sample(pids);
 *   ... run(bin, ["--role", "client", ...]) ...; const after = sample(clusterPids(dir, up.pid));
 *   await stopLive();
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readClusterFile, type ClusterProcess } from "../src/clusterPlan.ts";

/** The repository root (bench/..). */
export const ROOT = join(import.meta.dir, "..");
/** Where `bun run build` puts the compiled binary. */
export const DIST_BIN = join(ROOT, "dist/coffee");

/** The command prefix that runs coffee: dist/coffee when built, else `bun src/main.ts`. */
export function coffeeBin(): string[] {
  return existsSync(DIST_BIN) ? [DIST_BIN] : [process.execPath, join(ROOT, "src/main.ts")];
}

/** /proc/<pid>/stat counts CPU in clock ticks; almost always 100 on Linux, but ask. */
export const clockTicks = (() => {
  try { return Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100; } catch { return 100; }
})();

// ---- child processes: every one is tracked so a failure or ^C never leaves a cluster behind.

/** The part of a Bun subprocess the tracking needs. */
export interface Child {
  pid: number;
  kill(signal?: number | NodeJS.Signals): void;
  exited: Promise<number>;
}
const live = new Set<Child>();
let interrupted = false;

/** Register a spawned child so stopLive() and the signal cleanup end it; returns it unchanged. */
export function track<T extends Child>(p: T): T {
  // After ^C the main loop may still reach its next spawn before we exit: end it at once.
  if (interrupted) p.kill("SIGTERM");
  live.add(p);
  void p.exited.finally(() => live.delete(p));
  return p;
}

/** SIGTERM every child still running (coffee up stops its own children and deletes its namespace) and wait. */
export async function stopLive(): Promise<void> {
  const all = [...live];
  for (const p of all) p.kill("SIGTERM");
  await Promise.all(all.map((p) => p.exited));
}

/** True once SIGINT/SIGTERM arrived (installSignalCleanup): the process is about to exit 130. */
export function isInterrupted(): boolean {
  return interrupted;
}

/**
 * On SIGINT/SIGTERM, stop every tracked child (and wait for it) before exiting 130. Call once at
 * startup; a module import alone installs nothing.
 */
export function installSignalCleanup(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      interrupted = true;
      console.error(`${signal}: stopping ${live.size} child processes`);
      void stopLive().finally(() => process.exit(130));
    });
  }
}

/** What a cluster bench runs with: its deployment, folders and the coffee command prefix. */
export interface ClusterBench {
  deploy: "fused" | "split";
  work: string;
  /** Where results go: --out, else bench/results whatever the current directory is. */
  outDir: string;
  bin: string[];
}

/**
 * Check --deploy (a bad value goes to `fail`), make the work and output folders, and install
 * the signal cleanup: the start every cluster bench shares.
 */
export function prepareClusterBench(values: { deploy?: string; work: string; out?: string }, fail: (msg: string) => never): ClusterBench {
  const deploy = values.deploy;
  if (deploy !== "fused" && deploy !== "split") fail(`--deploy: fused or split, not "${deploy}"`);
  const work = resolve(values.work);
  const outDir = values.out ? resolve(values.out) : join(import.meta.dir, "results");
  const bin = coffeeBin();
  mkdirSync(work, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  installSignalCleanup();
  return { deploy, work, outDir, bin };
}

/** A coffee command that ran to completion. */
export interface Finished {
  stdout: string;
  /** performance.now() at spawn and at exit, ms. */
  start: number;
  end: number;
  /** The process's own user + system CPU, from the kernel's rusage. */
  cpuSeconds: number;
  /**
   * rusage maxRSS, MB. Not the child's own peak on Linux: the kernel carries the high-water mark
   * of the pre-exec memory (this parent's, shared by the vfork-style spawn) across exec, so it is
   * at least this process's RSS at spawn time. Kept because replicas.ts reports it.
   */
  peakRssMb: number;
  /** The child's own peak RSS (VmHWM of its /proc status, polled while it ran), MB; null if never read. */
  ownPeakRssMb: number | null;
}

/**
 * Run coffee (`bin` from coffeeBin()) with `args` to completion, tracked. A non-zero exit throws
 * with the last lines of its stderr. Spawns before its first await, so several calls in one
 * expression start in the same tick.
 */
export async function run(bin: readonly string[], args: string[]): Promise<Finished> {
  const start = performance.now();
  const p = track(Bun.spawn([...bin, ...args], { stdout: "pipe", stderr: "pipe" }));
  // VmHWM only grows, so the last read before exit misses at most the final poll interval.
  let hwmKb: number | null = null;
  const poll = (): void => { const s = procStat(p.pid); if (s && s.hwmKb > 0) hwmKb = s.hwmKb; };
  const watch = setInterval(poll, 50);
  poll();
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]).finally(() => clearInterval(watch));
  const end = performance.now();
  if (code !== 0) throw new Error(`coffee ${args.slice(0, 2).join(" ")} exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const usage = p.resourceUsage();
  return { stdout, start, end, cpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : 0, peakRssMb: (usage?.maxRSS ?? 0) / 2 ** 20,
    ownPeakRssMb: hwmKb === null ? null : hwmKb / 1024 };
}

/**
 * Spawn `coffee up` (`args` start with "up"), tracked, with stderr to `log` and `env` added to
 * this process's environment (Bun.spawn does not see later changes to process.env), and resolve
 * once it prints its "ready" line. Rejects when it exits first.
 */
export async function startUp(bin: readonly string[], args: string[], log: string, env: Record<string, string> = {}): Promise<Child> {
  const up = track(Bun.spawn([...bin, ...args], { stdout: "pipe", stderr: Bun.file(log), env: { ...process.env, ...env } }));
  const reader = up.stdout.getReader();
  const decoder = new TextDecoder();
  for (let text = ""; !text.includes("ready"); ) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`coffee up exited before ready; see ${log}`);
    text += decoder.decode(value, { stream: true });
  }
  // Keep draining stdout so a chatty child can never block on a full pipe.
  void (async () => { while (!(await reader.read()).done); })();
  return up;
}

// ---- /proc sampling

/** The row label of the shared RabbitMQ node in samples and tables. */
export const BROKER = "broker (beam.smp)";

/** A process to measure: its pid, the row label it is summed under, its own name and its role. */
export interface Tracked {
  pid: number;
  group: string;
  name: string;
  role: ClusterProcess["role"] | "up" | "broker";
}

/** One process at one instant. */
export interface ProcSample {
  group: string;
  name: string;
  role: Tracked["role"];
  /** user + system CPU so far, in clock ticks (divide by clockTicks). */
  ticks: number;
  /** Peak RSS since the last reset, MB; null for processes we must not reset (the shared broker). */
  peakRssMb: number | null;
}

/** Row label of a cluster process: replicas of one stage (or chain) and all monitors share a row. */
export function groupOf(p: ClusterProcess): string {
  if (p.role === "worker") return p.stage ?? (p.chain ? `${p.chain} chain` : p.name);
  if (p.role === "monitor") return "monitor";
  return p.name; // gateway, agg-q1..agg-q4
}

/** CPU ticks (user + system) and VmHWM of a live process; null once it is gone. */
export function procStat(pid: number): { ticks: number; hwmKb: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return { ticks: Number(f[11]) + Number(f[12]), hwmKb: Number(hwm ?? 0) };
  } catch {
    return null; // exited between cluster.json and /proc
  }
}

/** A process's resident memory from /proc/<pid>/status, MB: all of it, anonymous, file-backed; null once it exited. */
export function memoryMb(pid: number): { rss: number; anon: number; file: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const mb = (field: string): number => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) / 1024);
    return { rss: mb("VmRSS"), anon: mb("RssAnon"), file: mb("RssFile") };
  } catch {
    return null;
  }
}

let brokers: number[] | undefined;
/**
 * The RabbitMQ node's pids, when it runs on this machine: its CPU is part of the cost of a run.
 * Scanned once, on first use.
 */
export function brokerPids(): number[] {
  brokers ??= readdirSync("/proc").filter((d) => /^\d+$/.test(d) && (() => {
    try { return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "beam.smp"; } catch { return false; }
  })()).map(Number);
  return brokers;
}

/** The live processes of the cluster in `<stateDir>/cluster.json`, plus `coffee up` itself. */
export function clusterPids(stateDir: string, upPid: number): Tracked[] {
  const cluster = readClusterFile(join(stateDir, "cluster.json"))
    .filter((p): p is ClusterProcess & { pid: number } => p.pid !== null && p.alive)
    .map((p): Tracked => ({ pid: p.pid, group: groupOf(p), name: p.name, role: p.role }));
  return [...cluster, { pid: upPid, group: "coffee up", name: "coffee up", role: "up" }];
}

/**
 * VmHWM is a lifetime peak; writing 5 to clear_refs resets it (Linux ≥ 4.0), so each phase reports
 * its own peak. Only our own processes: the broker is shared and not ours to touch.
 */
export function resetPeaks(pids: readonly { pid: number }[]): void {
  for (const { pid } of pids) {
    try { writeFileSync(`/proc/${pid}/clear_refs`, "5"); } catch { /* gone, or an old kernel: the peak is then the lifetime peak */ }
  }
}

/** CPU ticks and peak RSS of `pids` and of the broker, keyed by pid; processes already gone are missing. */
export function sample(pids: readonly Tracked[]): Map<number, ProcSample> {
  const out = new Map<number, ProcSample>();
  for (const p of pids) {
    const s = procStat(p.pid);
    if (s) out.set(p.pid, { group: p.group, name: p.name, role: p.role, ticks: s.ticks, peakRssMb: s.hwmKb / 1024 });
  }
  for (const pid of brokerPids()) {
    const s = procStat(pid);
    if (s) out.set(pid, { group: BROKER, name: BROKER, role: "broker", ticks: s.ticks, peakRssMb: null });
  }
  return out;
}
