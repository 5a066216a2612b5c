/**
 * `coffee chaos`: starts a local cluster, keeps K clients running sessions on generated data,
 * SIGKILLs a random process of the chosen roles every few seconds (seeded), optionally restarts
 * a private broker, lets the cluster revive what died, and ends with a verdict per session
 * against `coffee reference`. Exits non-zero when any session is not exact.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../command.ts";
import { readClusterFile, type ClusterProcess } from "../clusterPlan.ts";
import { ConfigError } from "../errors.ts";
import { generateDataset, parseMonthRange, Rng } from "../generator.ts";
import { createLogger } from "../log.ts";
import { bool, int, optStr, str, type OptionSpec } from "../options.ts";
import { freeTcpPort } from "../ports.ts";
import { startPrivateBroker, type PrivateBroker } from "../privateBroker.ts";
import { computeReference } from "../reference.ts";
import { brokerAddress, brokerEnv, brokerOptions, type BrokerAddress } from "../brokerAddress.ts";
import { QUERIES, queryFileName } from "../schema.ts";
import { PARENT_PID_ENV } from "../parentWatch.ts";
import { selfCommand } from "../selfCommand.ts";
import { compareResult } from "../verdict.ts";
import { deleteNamespace } from "../namespaceAdmin.ts";

const ROLE_NAMES = ["gateway", "worker", "aggregator", "monitor"] as const;

interface SessionVerdict {
  client: number;
  round: number;
  session: string;
  verdict: string;
  seconds: number;
}

const OPTIONS: readonly OptionSpec[] = [
  { name: "dir", type: "string", default: "./chaos", help: "data, cluster state and results go here; emptied first, so it must be new, empty, or an earlier chaos run's" },
  { name: "duration-s", type: "int", default: 60, min: 5, max: 86_400, help: "how long clients keep starting sessions and processes keep dying" },
  { name: "clients", type: "int", default: 3, min: 1, max: 5, help: "concurrent clients, each with its own dataset" },
  { name: "kill-min-ms", type: "int", default: 2000, min: 100, max: 600_000, help: "shortest pause between two kills" },
  { name: "kill-max-ms", type: "int", default: 3000, min: 100, max: 600_000, help: "longest pause between two kills" },
  { name: "roles", type: "string", default: "gateway,worker,aggregator,monitor", help: "roles whose processes may be killed (gateway, worker, aggregator, monitor)" },
  { name: "broker-restart-at-s", type: "int", default: 0, min: 0, max: 86_400, help: "restart the broker once at this second (0 = never); runs a private rabbitmq-server" },
  { name: "seed", type: "int", default: 1, min: 0, max: 2 ** 31 - 1, help: "seed of victims, pauses and data" },
  { name: "data", type: "string", help: "comma-separated dataset folders, one per client", defaultText: "generate them" },
  { name: "months", type: "string", default: "2024-01..2024-02", help: "months of generated data per client" },
  { name: "transactions-per-month", type: "int", default: 2000, min: 10, max: 700_000, help: "generated transactions per month" },
  ...brokerOptions("broker to use when no restart is asked for (amqp:// or amqps://)"),
  { name: "keep", type: "bool", default: false, help: "keep data, state and results afterwards" },
  { name: "replicas", type: "string", help: "worker replicas per stage (1..64 each), passed to coffee up" },
];

/**
 * The processes a kill may hit: of the chosen roles, running, and a process of their own. Roles
 * run inside coffee up (the in-memory transport, when no broker is at hand) share its pid: a
 * SIGKILL would take down the whole cluster, not one of its processes.
 */
export function killable(entries: readonly ClusterProcess[], roles: readonly string[]): ClusterProcess[] {
  return entries.filter((e) => roles.includes(e.role) && e.alive && e.pid !== null && !e.inProcess);
}

/** Exit status of a client stopped by SIGINT (roles/client.ts); chaos stops its own clients with SIGTERM (143). */
const CLIENT_SIGINT_EXIT = 130;

/** What a chaos client's run says of the cluster: a session to compare, a failure, or nothing. */
export type ClientRunOutcome = { type: "finished"; sessionDir: string } | { type: "failed" } | { type: "interrupted" };

/**
 * Judge a client's exit. One stopped by SIGINT was interrupted from outside (a Ctrl-C in a
 * terminal reaches the whole process group, and the client's exit may be seen before chaos's own
 * signal handler runs): it says nothing of the cluster, so it is no failure.
 */
export function clientRunOutcome(code: number | null, stdout: string): ClientRunOutcome {
  if (code === CLIENT_SIGINT_EXIT) return { type: "interrupted" };
  const sessionDir = /results in (\S+)/.exec(stdout)?.[1];
  return code === 0 && sessionDir ? { type: "finished", sessionDir } : { type: "failed" };
}

/** Names a directory as chaos's own: only such a directory is emptied for the next run. */
const CHAOS_MARKER = ".coffee-chaos";

/**
 * Empty `dir` for a run: a directory a chaos run made (its marker file is there), or a missing
 * or empty one. Anything else is refused: `--dir .` must not wipe a checkout.
 */
export function prepareChaosDir(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ConfigError(`--dir ${dir} is a file, not a folder`);
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, CHAOS_MARKER))) {
    throw new ConfigError(`--dir ${dir} is not empty and was not made by coffee chaos: it is emptied before a run, so give a new or empty folder`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CHAOS_MARKER), "made by coffee chaos: emptied by the next run\n");
}

/** `coffee chaos`. */
export const chaosCommand: Command = {
  name: "chaos",
  usage: "coffee chaos [--duration-s N] [--clients K] [--roles list] [--broker-restart-at-s N] [options]",
  description: "Kills random cluster processes while clients run sessions, then checks every session against coffee reference.",
  options: OPTIONS,
  async run(values) {
    const log = createLogger("chaos");
    const dir = resolve(str(values, "dir"));
    const roles = str(values, "roles").split(",").map((r) => r.trim()).filter(Boolean);
    for (const r of roles) if (!(ROLE_NAMES as readonly string[]).includes(r)) throw new ConfigError(`--roles: unknown role "${r}"`);
    if (int(values, "kill-max-ms") < int(values, "kill-min-ms")) throw new ConfigError("--kill-max-ms must be >= --kill-min-ms");
    const seed = int(values, "seed");
    // Seeded, so the same seed kills the same sequence of victims.
    const rng = new Rng(seed);
    const rand = (): number => rng.float();
    const durationMs = int(values, "duration-s") * 1000;
    prepareChaosDir(dir);
    // SIGINT / SIGTERM end the run early, through the same cleanup as its end: the cluster is
    // stopped and its namespace deleted, not left on the broker by a chaos that died at once. A
    // second signal kills the cluster instead of waiting for it to stop.
    const interrupt = new AbortController();
    const interrupted = new Promise<void>((resolve) => interrupt.signal.addEventListener("abort", () => resolve(), { once: true }));
    let up: Bun.Subprocess<"pipe", "pipe", "ignore"> | null = null;
    const onSignal = (signal: string): void => {
      if (interrupt.signal.aborted) {
        log.info(`${signal} again: killing the cluster`);
        up?.kill("SIGKILL");
        return;
      }
      log.info(`${signal}: stopping the run${up ? ", the cluster, and deleting its namespace" : ""}`);
      interrupt.abort();
    };
    const onSigint = (): void => onSignal("SIGINT");
    const onSigterm = (): void => onSignal("SIGTERM");
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
    /** What an interrupt before the cluster started leaves to do. */
    const interruptedEarly = (): number => {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
      if (!bool(values, "keep")) rmSync(dir, { recursive: true, force: true });
      process.stdout.write("chaos: interrupted before its cluster started\n");
      return 130;
    };

    const given = optStr(values, "data")?.split(",").map((d) => resolve(d.trim())).filter(Boolean);
    const clients = given ? given.length : int(values, "clients");
    const datasets: string[] = [];
    const expected: Record<string, string>[] = [];
    for (let i = 0; i < clients && !interrupt.signal.aborted; i++) {
      let data = given?.[i];
      if (!data) {
        data = join(dir, "data", `client${i + 1}`);
        await generateDataset({ out: data, seed: seed * 100 + i, months: parseMonthRange(str(values, "months")), transactionsPerMonth: int(values, "transactions-per-month"), users: 1000, stores: 10, menuItems: 8 });
      }
      datasets.push(data);
      expected.push((await computeReference(data)).queries);
    }

    if (interrupt.signal.aborted) return interruptedEarly();
    let broker: PrivateBroker | null = null;
    let address: BrokerAddress = brokerAddress(values);
    const restartAt = int(values, "broker-restart-at-s");
    if (restartAt > 0) {
      broker = await startPrivateBroker(join(dir, "rabbitmq"), (m) => log.info(m));
      address = { url: broker.url };
      if (interrupt.signal.aborted) {
        broker.stop();
        return interruptedEarly();
      }
    }
    const port = freeTcpPort();
    const namespace = `chaos${port}`;
    const stateDir = join(dir, "state");
    const replicas = optStr(values, "replicas");
    up = Bun.spawn([...selfCommand(), "up", "--state-dir", stateDir, "--port", String(port), "--namespace", namespace, ...(replicas ? ["--replicas", replicas] : [])], {
      env: { ...process.env, ...brokerEnv(address), [PARENT_PID_ENV]: String(process.pid) } as Record<string, string>, stdin: "pipe", stdout: "pipe", stderr: "ignore",
    });
    const started = performance.now();
    const kills = new Map<string, number>();
    let brokerRestarts = 0;
    const verdicts: SessionVerdict[] = [];
    try {
      const reader = up.stdout.getReader();
      for (let banner = ""; !banner.includes("ready"); ) {
        const read = await Promise.race([reader.read(), interrupted.then(() => null)]);
        if (read === null) break;
        const { value, done } = read;
        if (done) throw new ConfigError(`coffee up stopped before it was ready; see ${join(stateDir, "logs")}`);
        banner += new TextDecoder().decode(value);
      }
      // Interrupted before it was ready: straight to the cleanup.
      if (!interrupt.signal.aborted) {
        const inProcess = readClusterFile(join(stateDir, "cluster.json")).filter((e) => roles.includes(e.role) && e.inProcess).map((e) => e.role);
        if (inProcess.length > 0) {
          throw new ConfigError(`no broker: coffee up runs ${[...new Set(inProcess)].join(", ")} in its own process (in-memory transport), so no kill could hit one of them alone; start RabbitMQ, install rabbitmq-server, or pass --roles monitor`);
        }
        log.info(`cluster ready on port ${port}; killing ${roles.join(", ")} every ${int(values, "kill-min-ms")}-${int(values, "kill-max-ms")} ms for ${durationMs / 1000} s`);
        const deadline = performance.now() + durationMs;

        const killer = (async () => {
          let restarted = false;
          while (performance.now() < deadline && !interrupt.signal.aborted) {
            const pause = int(values, "kill-min-ms") + rand() * (int(values, "kill-max-ms") - int(values, "kill-min-ms"));
            await Promise.race([Bun.sleep(Math.min(pause, Math.max(0, deadline - performance.now()))), interrupted]);
            if (performance.now() >= deadline || interrupt.signal.aborted) break;
            if (broker && !restarted && performance.now() - started >= restartAt * 1000) {
              restarted = true;
              log.info("restarting the broker");
              await broker.restart();
              brokerRestarts++;
              continue;
            }
            const entries = killable(readClusterFile(join(stateDir, "cluster.json")), roles);
            const victim = entries[Math.floor(rand() * entries.length)];
            if (!victim) continue;
            try {
              process.kill(victim.pid!, "SIGKILL");
              kills.set(victim.role, (kills.get(victim.role) ?? 0) + 1);
              log.info(`SIGKILL ${victim.name} (pid ${victim.pid})`);
            } catch {
              // Already gone: the supervisor is reviving it.
            }
          }
        })();

        const runClient = async (i: number): Promise<void> => {
          for (let round = 1; performance.now() < deadline && !interrupt.signal.aborted; round++) {
            const out = join(dir, "results", `client${i + 1}`);
            const t0 = performance.now();
            // Told our pid, so it stops if this run dies without its cleanup (a SIGKILL).
            const p = Bun.spawn([...selfCommand(), "--role", "client", "--data", datasets[i]!, "--out", out, "--gateway", `127.0.0.1:${port}`, "--quiet", "--batch-rows", "200", "--window", "4"], {
              stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) } as Record<string, string>,
            });
            const stopClient = (): void => p.kill("SIGTERM");
            interrupt.signal.addEventListener("abort", stopClient, { once: true });
            const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
            interrupt.signal.removeEventListener("abort", stopClient);
            // A session cut short by the interrupt says nothing of the cluster.
            if (interrupt.signal.aborted) break;
            const outcome = clientRunOutcome(code, stdout);
            if (outcome.type === "interrupted") {
              log.info(`client ${i + 1} was interrupted (SIGINT) from outside the run: it starts no more sessions`);
              break;
            }
            const seconds = (performance.now() - t0) / 1000;
            if (outcome.type === "failed") {
              verdicts.push({ client: i + 1, round, session: "-", verdict: `failed: ${stderr.trim().split("\n")[0] ?? `exit ${code}`}`, seconds });
              continue;
            }
            const { sessionDir } = outcome;
            const parts: string[] = [];
            for (const q of QUERIES) {
              const v = compareResult(expected[i]![q]!, readFileSync(join(sessionDir, queryFileName(q)), "utf8"));
              if (!v.exact) parts.push(`${q}: ${v.lost} lost, ${v.duplicated} duplicated, ${v.unexpected} unexpected`);
            }
            verdicts.push({ client: i + 1, round, session: sessionDir.split("session_")[1] ?? sessionDir, verdict: parts.length ? parts.join("; ") : "exact", seconds });
          }
        };
        await Promise.all([killer, ...Array.from({ length: clients }, (_, i) => runClient(i))]);
      }
    } finally {
      up.kill("SIGTERM");
      await up.exited;
      if (!broker) await deleteNamespace(address, namespace).catch(() => {});
      broker?.stop();
      if (!bool(values, "keep")) rmSync(dir, { recursive: true, force: true });
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
    }

    const total = [...kills.values()].reduce((a, b) => a + b, 0);
    const exact = verdicts.filter((v) => v.verdict === "exact").length;
    process.stdout.write(`| client | round | session | seconds | verdict |\n| ---: | ---: | --- | ---: | --- |\n`);
    for (const v of verdicts) process.stdout.write(`| ${v.client} | ${v.round} | ${v.session.slice(0, 8)} | ${v.seconds.toFixed(1)} | ${v.verdict} |\n`);
    process.stdout.write(`chaos: ${verdicts.length} sessions, ${exact} exact; ${total} kills (${[...kills].map(([r, n]) => `${r} ${n}`).join(", ") || "none"}), ${brokerRestarts} broker restarts, ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    if (interrupt.signal.aborted) {
      process.stdout.write("chaos: interrupted before its end; the sessions above finished before it\n");
      return 130;
    }
    return verdicts.length > 0 && exact === verdicts.length ? 0 : 1;
  },
};
