/**
 * Soak: does a long-running cluster grow per session served?
 *
 * Starts one `coffee up` (own --namespace, --state-dir, --port), then runs waves of client
 * sessions against it: normal ones, clients SIGKILLed at random moments (abandoned sessions),
 * clients with a malformed row, clients stopped with SIGTERM (abort), clients frozen with SIGSTOP
 * until the gateway drops them for idleness (then killed), raw connections that never say hello,
 * and raw connections that send a garbage frame. After every wave it samples every process of
 * cluster.json (and coffee up itself): RSS, RssAnon, threads, fds by kind, heap (status/metrics),
 * metric series count; the state dir's bytes and files per folder; `coffee status --json` counts;
 * the namespace's queues (messages, consumers), exchanges and bindings; broker connections and
 * channels of the cluster's processes; the --out folder. At the end it waits for the TTLs to run
 * out, samples once more ("settled"), fits each quantity's slope per session over the second half
 * of the waves, prints a table, and stops the cluster (--delete-on-exit deletes its queues).
 *
 *   bun run build && bun bench/soak.ts --waves 60 --port 19741 [--keep yes] [--env MIMALLOC_PURGE_DELAY=0]
 *
 * Writes WORK/samples.jsonl and WORK/summary.txt (WORK: --work, default /tmp/soak-run).
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, appendFileSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { benchArgs } from "./benchArgs.ts";
import { coffeeBin } from "./procStats.ts";

const values = benchArgs(import.meta.path, {
  waves: { type: "string", default: "60" },
  normal: { type: "string", default: "6" },
  port: { type: "string", default: "19741" },
  namespace: { type: "string", default: `soak${Math.floor(Math.random() * 1e6)}` },
  work: { type: "string", default: "/tmp/soak-run" },
  tiny: { type: "string", default: "/tmp/dk-tiny" },
  small: { type: "string", default: "/tmp/dk-small" },
  ttl: { type: "string", default: "8" },
  idle: { type: "string", default: "6" },
  // "yes": copy the state dir aside (WORK/state-copy) before stopping.
  keep: { type: "string", default: "no" },
  // KEY=VALUE,KEY=VALUE for coffee up (and so its children).
  env: { type: "string", default: "" },
});
const WAVES = Number(values.waves), NORMAL = Number(values.normal), PORT = Number(values.port);
const NS = values.namespace!, WORK = values.work!, STATE = join(WORK, "state"), OUT = join(WORK, "out");
// dist/coffee when built, else from source, as every bench script runs.
const BIN = coffeeBin();
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const SAMPLES = join(WORK, "samples.jsonl");

// A dataset with malformed rows: tiny plus a row of the wrong width and one with a bad number.
const BAD = join(WORK, "data-bad");
cpSync(values.tiny!, BAD, { recursive: true });
for (const f of readdirSync(join(BAD, "transactions"))) {
  appendFileSync(join(BAD, "transactions", f), "bad-row-1,1,2\nbad-row-2,3,1,,37.0,xx,0.0,notanumber,2024-01-01 10:00:00\n");
}

const live = new Set<Subprocess>();
const track = <T extends Subprocess>(p: T): T => { live.add(p); void p.exited.finally(() => live.delete(p)); return p; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (a: number, b: number) => a + Math.floor(Math.random() * (b - a));

let up: Subprocess | null = null;
async function cleanup() {
  for (const p of live) { if (p !== up) { try { p.kill("SIGKILL"); } catch {} } }
  if (up) {
    up.kill("SIGTERM");
    const t = setTimeout(() => { try { up!.kill("SIGKILL"); } catch {} }, 30_000);
    await up.exited; clearTimeout(t);
  }
}
for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, () => { void cleanup().then(() => process.exit(130)); });

// ---------------------------------------------------------------- sampling
function procStatus(pid: number): Record<string, number> | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, "m")) ?? [])[1] ?? NaN);
    const fds = readdirSync(`/proc/${pid}/fd`);
    const kinds = { socket: 0, file: 0, pipe: 0, anon: 0 };
    for (const fd of fds) {
      let t = "";
      try { t = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      if (t.startsWith("socket:")) kinds.socket++;
      else if (t.startsWith("pipe:")) kinds.pipe++;
      else if (t.startsWith("anon_inode:")) kinds.anon++;
      else kinds.file++;
    }
    return { rssKb: kb("VmRSS"), rssAnonKb: kb("RssAnon"), threads: kb("Threads"), fds: fds.length,
      fdSocket: kinds.socket, fdFile: kinds.file, fdPipe: kinds.pipe, fdAnon: kinds.anon };
  } catch { return null; }
}

function treeSize(dir: string): { bytes: number; files: number; dirs: number } {
  let bytes = 0, files = 0, dirs = 0;
  const walk = (d: string) => {
    let ents: string[] = [];
    try { ents = readdirSync(d); } catch { return; }
    for (const e of ents) {
      const p = join(d, e);
      let st; try { st = lstatSync(p); } catch { continue; }
      if (st.isDirectory()) { dirs++; walk(p); } else { files++; bytes += st.size; }
    }
  };
  walk(dir);
  return { bytes, files, dirs };
}

function rabbit(args: string[]): string[] {
  const r = spawnSync(["rabbitmqctl", "-q", ...args], { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString().split("\n").filter((l) => l.trim() !== "");
}

async function metricsOf(port: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
    const get = (name: string) => { const l = lines.find((x) => x.startsWith(name + "{") || x.startsWith(name + " ")); return l ? Number(l.split(" ").pop()) : NaN; };
    return { series: lines.length, bytes: text.length, heapUsed: get("nodejs_heap_size_used_bytes"), external: get("nodejs_external_memory_bytes") };
  } catch { return {}; }
}

let sessionsRun = 0; // client processes and raw connections begun
async function sample(label: string | number): Promise<Record<string, unknown>> {
  const row: Record<string, unknown> = { wave: label, sessions: sessionsRun, t: Date.now() };
  const cluster = JSON.parse(readFileSync(join(STATE, "cluster.json"), "utf8")) as { name: string; pid: number; metricsPort?: number; restarts?: number }[];
  const pids = new Map<number, string>();
  if (up) { pids.set(up.pid, "up"); const s = procStatus(up.pid); if (s) for (const [k, v] of Object.entries(s)) row[`up.${k}`] = v; }
  for (const p of cluster) {
    pids.set(p.pid, p.name);
    const s = procStatus(p.pid);
    if (s) for (const [k, v] of Object.entries(s)) row[`${p.name}.${k}`] = v;
    row[`${p.name}.restarts`] = p.restarts ?? 0;
    if (p.metricsPort) for (const [k, v] of Object.entries(await metricsOf(p.metricsPort))) row[`${p.name}.m.${k}`] = v;
  }
  // state dir per folder
  for (const e of readdirSync(STATE)) {
    const p = join(STATE, e);
    if (!statSync(p).isDirectory()) continue;
    const t = treeSize(p);
    row[`state.${e}.bytes`] = t.bytes; row[`state.${e}.files`] = t.files; row[`state.${e}.dirs`] = t.dirs;
  }
  const tot = treeSize(STATE); row["state.total.bytes"] = tot.bytes; row["state.total.files"] = tot.files;
  const o = treeSize(OUT); row["out.bytes"] = o.bytes; row["out.files"] = o.files; row["out.dirs"] = o.dirs;
  try { row["out.partDirs"] = readdirSync(OUT).filter((d) => existsSync(join(OUT, d, ".writer"))).length; } catch { row["out.partDirs"] = 0; }
  // coffee status
  const st = spawnSync([...BIN, "status", "--state-dir", STATE, "--json", "--timeout-ms", "2000"], { stdout: "pipe", stderr: "pipe" });
  try {
    const j = JSON.parse(st.stdout.toString());
    for (const p of j.processes) {
      const d = p.detail ?? {};
      for (const k of ["heapMb", "rssMb", "gcForced", "sessions", "awaitingBye", "handshaking", "sessionsStarted", "sessionsFinished", "sessionsPurged", "finished", "purged", "failedSessions", "durableLsn", "batches", "duplicates"]) {
        if (typeof d[k] === "number") row[`${p.name}.s.${k}`] = d[k];
      }
      if (!p.healthy) row[`${p.name}.unhealthy`] = 1;
    }
    row["status.openSessions"] = Array.isArray(j.openSessions) ? j.openSessions.length : j.openSessions;
    row["status.setAside"] = Array.isArray(j.setAside) ? j.setAside.length : 0;
  } catch { row["status.error"] = st.stderr.toString().slice(0, 200); }
  // broker: queues, exchanges, bindings of the namespace; connections/channels of our pids
  const qs = rabbit(["list_queues", "name", "messages", "messages_unacknowledged", "consumers", "memory"]).map((l) => l.split("\t")).filter((c) => c[0]!.startsWith(NS + "."));
  row["broker.queues"] = qs.length;
  row["broker.messages"] = qs.reduce((a, c) => a + Number(c[1]), 0);
  row["broker.unacked"] = qs.reduce((a, c) => a + Number(c[2]), 0);
  row["broker.consumers"] = qs.reduce((a, c) => a + Number(c[3]), 0);
  row["broker.queueMemory"] = qs.reduce((a, c) => a + Number(c[4]), 0);
  row["broker.exchanges"] = rabbit(["list_exchanges", "name"]).filter((l) => l.startsWith(NS)).length;
  row["broker.bindings"] = rabbit(["list_bindings", "source_name", "destination_name", "routing_key"]).filter((l) => l.includes(NS)).length;
  const ss = spawnSync(["ss", "-tnpH", "dst", "127.0.0.1:5672"], { stdout: "pipe" }).stdout.toString().split("\n");
  const ourPorts = new Set<string>();
  for (const l of ss) {
    const m = l.match(/127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:5672.*pid=(\d+)/);
    if (m && pids.has(Number(m[2]))) ourPorts.add(m[1]!);
  }
  const conns = rabbit(["list_connections", "peer_port", "channels"]).map((l) => l.split("\t")).filter((c) => ourPorts.has(c[0]!));
  row["broker.connections"] = conns.length;
  row["broker.channels"] = conns.reduce((a, c) => a + Number(c[1]), 0);
  appendFileSync(SAMPLES, JSON.stringify(row) + "\n");
  return row;
}

// ---------------------------------------------------------------- sessions
const outcome: Record<string, number> = {};
const count = (k: string) => { outcome[k] = (outcome[k] ?? 0) + 1; };
function client(data: string, extra: string[] = []): Subprocess {
  sessionsRun++;
  return track(spawn([...BIN, "--role", "client", "--data", data, "--out", OUT, "--gateway", `127.0.0.1:${PORT}`, "--quiet", "--wait-for-slot-s", "120", ...extra],
    { stdout: "ignore", stderr: "pipe" }));
}
async function finished(p: Subprocess, kind: string) {
  const code = await p.exited;
  count(`${kind}:exit${code}${p.signalCode ? ":" + p.signalCode : ""}`);
  if (code !== 0 && kind === "normal") {
    const err = await new Response(p.stderr as ReadableStream).text();
    appendFileSync(join(WORK, "client-errors.log"), `${kind} ${code}: ${err.slice(-400)}\n`);
  }
}
/**
 * A client signalled `sig` once its output matches `when` (its progress lines, every 50 ms), plus
 * 0..`jitter` ms: so the signal lands inside the session (mid-upload, awaiting results, ...), not
 * before the client connected, whatever the load delays its start by.
 */
async function killedAt(data: string, when: RegExp, jitter: number, sig: NodeJS.Signals, kind: string, extra: string[] = [], onHit?: (p: Subprocess) => void) {
  sessionsRun++;
  const p = track(spawn([...BIN, "--role", "client", "--data", data, "--out", OUT, "--gateway", `127.0.0.1:${PORT}`, "--progress-ms", "50", "--wait-for-slot-s", "120", ...extra],
    { stdout: "pipe", stderr: "pipe" }));
  let hit = false;
  const watch = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder(); let text = "";
    for await (const chunk of stream) {
      text += dec.decode(chunk);
      if (!hit && when.test(text)) {
        hit = true;
        await sleep(rand(0, jitter + 1));
        if (p.exitCode === null) { p.kill(sig); onHit?.(p); }
      }
      if (text.length > 100_000) text = text.slice(-1000);
    }
  };
  await Promise.all([watch(p.stdout as ReadableStream<Uint8Array>), watch(p.stderr as ReadableStream<Uint8Array>), p.exited]);
  count(`${kind}:${hit ? "hit" : "missed"}:exit${p.exitCode}${p.signalCode ? ":" + p.signalCode : ""}`);
  return p;
}
const UPLOADING = /transactions: [\d,]+ rows sent|transaction_items: [\d,]+ rows sent/;
const AWAITING = /results: q1/;
const PARTIAL = /complete \(/;
const stopped: { p: Subprocess; at: number }[] = [];
/** Frozen mid-upload (SIGSTOP) until the gateway drops it for idleness; SIGKILLed a few waves later. */
function frozen(): Promise<void> {
  return new Promise<void>((resolve) => {
    void killedAt(values.small!, UPLOADING, 100, "SIGSTOP", "frozen", ["--batch-bytes", "8192", "--window", "1"], (p) => {
      stopped.push({ p, at: Date.now() });
      resolve();
    }).then(() => resolve());
  });
}
async function raw(kind: "nohello" | "garbage") {
  sessionsRun++;
  let closed!: () => void;
  const done = new Promise<void>((r) => { closed = r; });
  const sock = await Bun.connect({ hostname: "127.0.0.1", port: PORT, socket: { data() {}, close() { closed(); }, error() { closed(); } } });
  if (kind === "garbage") {
    const payload = new TextEncoder().encode("\xc1\xc1 not msgpack at all");
    const f = new Uint8Array(4 + payload.length); new DataView(f.buffer).setUint32(0, payload.length); f.set(payload, 4);
    sock.write(f);
  }
  await Promise.race([done, sleep(kind === "nohello" ? 15_000 : 5_000)]);
  sock.end();
  count(`raw-${kind}`);
}

const rotating = [
  () => finished(client(BAD), "badrow"),
  () => killedAt(values.small!, UPLOADING, 150, "SIGTERM", "sigterm-upload", ["--batch-bytes", "16384"]),
  () => frozen(),
  () => raw("nohello"),
  () => raw("garbage"),
  () => finished(client(BAD), "badrow"),
  () => killedAt(values.small!, AWAITING, 50, "SIGINT", "sigint-results"),
];

// ---------------------------------------------------------------- main
try {
  up = track(spawn([...BIN, "up", "--state-dir", STATE, "--port", String(PORT), "--namespace", NS, "--max-sessions", "40", "--delete-on-exit"], {
    env: { ...process.env, COFFEE_SESSION_TTL_S: values.ttl!, COFFEE_CLIENT_IDLE_S: values.idle!, COFFEE_HANDSHAKE_TIMEOUT_MS: "2000",
      ...Object.fromEntries(values.env.split(",").filter((kv) => kv !== "").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])) },
    stdout: "pipe", stderr: "pipe",
  }));
  const reader = (up.stdout as ReadableStream<Uint8Array>).getReader();
  let buf = "";
  const deadline = Date.now() + 60_000;
  while (!buf.includes("ready")) {
    if (Date.now() > deadline) throw new Error("coffee up not ready: " + buf);
    const { value, done } = await reader.read();
    if (done) throw new Error("coffee up exited: " + buf + (await new Response(up.stderr as ReadableStream).text()));
    buf += new TextDecoder().decode(value);
  }
  void (async () => { for (;;) { const { done } = await reader.read(); if (done) break; } })();
  console.log(`ready: namespace ${NS}, port ${PORT}, state ${STATE}`);
  const base = await sample(0);
  console.log(`wave 0: gateway rss ${base["gateway.rssKb"]} kB`);
  const t0 = Date.now();
  for (let w = 1; w <= WAVES; w++) {
    // frozen clients the gateway has dropped by now: kill them (their sessions then wait out the TTL).
    for (let i = stopped.length - 1; i >= 0; i--) {
      if (Date.now() - stopped[i]!.at > (Number(values.idle) + 3) * 1000) { stopped[i]!.p.kill("SIGKILL"); stopped.splice(i, 1); }
    }
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < NORMAL; i++) jobs.push(finished(client(values.tiny!), "normal"));
    jobs.push(killedAt(values.small!, UPLOADING, 200, "SIGKILL", "kill-upload", ["--batch-bytes", "16384"]));
    // after its first result chunk: awaiting the rest, or (when all came) around done/bye
    jobs.push(killedAt(values.small!, w % 2 ? AWAITING : PARTIAL, 30, "SIGKILL", w % 2 ? "kill-awaiting" : "kill-partial"));
    jobs.push(rotating[w % rotating.length]!());
    // a raw no-hello connection runs 15 s at most; do not wait for it, sample it later
    await Promise.all(jobs.map((j, i) => (i === jobs.length - 1 && w % rotating.length === 3 ? Promise.resolve() : j)));
    const row = await sample(w);
    console.log(`wave ${w} (${sessionsRun} sessions, ${((Date.now() - t0) / 1000).toFixed(0)} s): gw rss ${row["gateway.rssKb"]} kB heap ${row["gateway.m.heapUsed"]} fds ${row["gateway.fds"]} state ${row["state.total.bytes"]} B/${row["state.total.files"]} f, broker msgs ${row["broker.messages"]}, gw sessions ${row["gateway.s.sessions"]}/${row["gateway.s.awaitingBye"]}`);
  }
  for (const s of stopped) s.p.kill("SIGKILL");
  stopped.length = 0;
  const settle = (Number(values.ttl) + Number(values.idle) + 20) * 1000;
  console.log(`settling ${settle / 1000} s for the TTLs ...`);
  await sleep(settle);
  await sample("settled");
  if (values.keep === "yes") cpSync(STATE, join(WORK, "state-copy"), { recursive: true });
  console.log("outcomes", outcome);
  writeFileSync(join(WORK, "outcomes.json"), JSON.stringify(outcome, null, 1));
} finally {
  await cleanup();
}

// ---------------------------------------------------------------- fit
const rows = readFileSync(SAMPLES, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number | string>);
const waves = rows.filter((r) => typeof r.wave === "number" && (r.wave as number) >= 1);
const half = waves.slice(Math.floor(waves.length / 2));
const first = waves[0]!, last = waves[waves.length - 1]!, settled = rows.find((r) => r.wave === "settled");
const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !["wave", "t", "sessions"].includes(k) && typeof first[k] === "number");
const lines: string[] = [`namespace ${NS}; ${last.sessions} sessions in ${waves.length} waves; slope fitted over waves ${half[0]!.wave}..${last.wave}`,
  ["quantity", "wave1", "last", "settled", "slope/session", "r2"].join("\t")];
for (const k of keys) {
  const xs = half.map((r) => r.sessions as number), ys = half.map((r) => r[k] as number);
  if (ys.some((y) => typeof y !== "number" || Number.isNaN(y))) continue;
  const n = xs.length, mx = xs.reduce((a, b) => a + b) / n, my = ys.reduce((a, b) => a + b) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { sxy += (xs[i]! - mx) * (ys[i]! - my); sxx += (xs[i]! - mx) ** 2; syy += (ys[i]! - my) ** 2; }
  const slope = sxx ? sxy / sxx : 0, r2 = sxx && syy ? (sxy * sxy) / (sxx * syy) : 0;
  lines.push([k, first[k], last[k], settled?.[k] ?? "", slope.toPrecision(4), r2.toFixed(2)].join("\t"));
}
writeFileSync(join(WORK, "summary.txt"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
