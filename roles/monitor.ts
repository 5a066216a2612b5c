/**
 * Monitor role: N monitors elect a leader (Bully with terms, src/election.ts, over TCP). The
 * leader health-checks every process in the cluster file over UDP (other monitors included)
 * and revives one that misses `--misses` checks in a row, through a revival backend (coffee up's
 * control API, or Docker), on behalf of its term, and only while its lease holds (its own
 * heartbeats went out less than --leader-timeout-ms ago). coffee up's control API also refuses a
 * term older than one it has seen, so there a paused ex-leader cannot act; the Docker backend
 * checks terms per monitor only, so there the lease alone fences.
 */
import { heapSize } from "bun:jsc";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ClusterWatch } from "../src/clusterWatch.ts";
import { startMonitorDashboard, type MonitorDashboardConfig } from "../src/dashboard/monitorDashboard.ts";
import type { Command } from "../src/command.ts";
import { DockerRevivalBackend } from "../src/dockerRevival.ts";
import { BullyElection, MAX_TERM, MAX_TERM_STEP, tickIntervalMs, toElectionMessage, type ElectionAction } from "../src/election.ts";
import { openElectionMessage, sealElectionMessage } from "../src/electionSeal.ts";
import { parsePeers, startElectionTransport, type PeerAddresses } from "../src/electionTransport.ts";
import { ConfigError, errorMessage } from "../src/errors.ts";
import { HEALTH_HOST_OPTION, startHealthServer, type HealthServer } from "../src/health.ts";
import { pingEntry } from "../src/clusterView.ts";
import { HealthSweep } from "../src/healthSweep.ts";
import { LocalRevivalBackend } from "../src/localRevival.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { LogThrottle } from "../src/logThrottle.ts";
import { CoffeeMetrics, METRICS_HOST_OPTION, METRICS_PORT_OPTION, serveMetrics } from "../src/metrics.ts";
import { int, optStr, sourceOf, str, type OptionSpec, type OptionValues } from "../src/options.ts";
import { RevivalPolicy, type RevivalBackend, type RevivalEvent } from "../src/revival.ts";

const OPTIONS: readonly OptionSpec[] = [
  { name: "name", type: "string", env: "COFFEE_NAME", default: "monitor", help: "process name" },
  // Every role takes it (README "Roles and options"), so one environment serves them all.
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "its cluster's namespace, said in its health replies, as every role's are (monitors talk to no broker: they ping processes)" },
  { name: "id", type: "int", env: "COFFEE_MONITOR_ID", default: 1, min: 1, max: 1_000_000, help: "this monitor's election id (the highest live id leads)" },
  { name: "peers", type: "string", env: "COFFEE_MONITOR_PEERS", default: "", help: "every monitor's election address: 1=host:port,2=host:port,... (empty: this one alone)" },
  { name: "election-port", type: "int", env: "COFFEE_ELECTION_PORT", default: 0, min: 0, max: 65535, help: "TCP port for election messages", defaultText: "this id's port in --peers" },
  { name: "election-host", type: "string", env: "COFFEE_ELECTION_HOST", default: "0.0.0.0", help: "address the election port listens on (coffee up uses 127.0.0.1; without an election key messages carry no credentials, so keep it off untrusted networks)" },
  { name: "election-key", type: "string", env: "COFFEE_ELECTION_KEY", secret: true, help: "key every monitor signs its election messages with, the same on all (file: first line); messages not signed with it are ignored", defaultText: "the key in coffee up's control.json next to the cluster file, else none (unsigned)" },
  { name: "cluster-file", type: "string", env: "COFFEE_CLUSTER_FILE", default: "./state/cluster.json", help: "processes to watch (written by coffee up)" },
  { name: "health-port", type: "int", env: "HEALTH_PORT", default: 0, min: 0, max: 65535, help: "UDP port answering PING (0 = any free port)" },
  HEALTH_HOST_OPTION,
  METRICS_PORT_OPTION,
  METRICS_HOST_OPTION,
  { name: "interval-ms", type: "int", env: "COFFEE_CHECK_INTERVAL_MS", default: 250, min: 20, max: 60_000, help: "time between health rounds of the leader" },
  { name: "timeout-ms", type: "int", env: "COFFEE_CHECK_TIMEOUT_MS", default: 250, min: 10, max: 60_000, help: "wait for one PING reply" },
  { name: "misses", type: "int", env: "COFFEE_CHECK_MISSES", default: 3, min: 1, max: 100, help: "consecutive missed replies before a process is declared down" },
  { name: "heartbeat-ms", type: "int", env: "COFFEE_HEARTBEAT_MS", default: 200, min: 10, max: 60_000, help: "leader heartbeat interval (the election ticks every half of it, at most 50 ms)" },
  { name: "leader-timeout-ms", type: "int", env: "COFFEE_LEADER_TIMEOUT_MS", default: 1000, min: 50, max: 600_000, help: "silence from the leader that starts an election (at least twice --heartbeat-ms)" },
  { name: "hung-after-ms", type: "int", env: "COFFEE_HUNG_AFTER_MS", default: 30_000, min: 1000, max: 3_600_000, help: "a process that is running but has answered no health check for this long (hung, or stopped) is killed and started again (twice this long for one not heard since it started: it may be replaying its log)" },
  { name: "revive", type: "enum", env: "COFFEE_REVIVE", default: "local", choices: ["local", "docker", "none"], help: "how dead processes are started again" },
  { name: "control-url", type: "string", env: "COFFEE_CONTROL_URL", help: "coffee up's control API", defaultText: "read control.json next to the cluster file" },
  { name: "control-key", type: "string", env: "COFFEE_CONTROL_KEY", secret: true, help: "the key coffee up's control API asks for (file: first line)", defaultText: "the key in control.json next to the cluster file" },
  { name: "docker-socket", type: "string", env: "DOCKER_SOCKET", default: "/var/run/docker.sock", help: "Docker Engine API socket (--revive docker)" },
  { name: "compose-project", type: "string", env: "COMPOSE_PROJECT_NAME", help: "compose project whose containers are revived (--revive docker)" },
  { name: "revive-initial-ms", type: "int", env: "COFFEE_REVIVE_INITIAL_MS", default: 250, min: 0, max: 600_000, help: "wait after a revival attempt before the next one (doubles)" },
  { name: "revive-max-ms", type: "int", env: "COFFEE_REVIVE_MAX_MS", default: 8000, min: 0, max: 3_600_000, help: "cap of the doubling wait between revival attempts" },
  { name: "revive-max-attempts", type: "int", env: "COFFEE_REVIVE_MAX_ATTEMPTS", default: 10, min: 1, max: 1000, help: "revival attempts per process before it is reported and left down for 60 s past its last backoff (then it gets a fresh budget)" },
  { name: "dashboard-port", type: "int", env: "COFFEE_DASHBOARD_PORT", default: 0, min: 0, max: 65535, help: "serve the web dashboard (processes, leader, sessions, queues, throughput) on this TCP port (0 = off)" },
  { name: "dashboard-host", type: "string", env: "COFFEE_DASHBOARD_HOST", default: "127.0.0.1", help: "address the dashboard listens on (0.0.0.0: every interface)" },
  { name: "dashboard-allowed-hosts", type: "string", env: "COFFEE_DASHBOARD_ALLOWED_HOSTS", default: "", help: "more names the dashboard answers to, comma-separated (a reverse proxy's); IP addresses, localhost and this machine's name always work, any other Host gets 403 (DNS rebinding)" },
];

type MonitorBackend = RevivalBackend & { guard: { observeTerm(t: number): boolean; readonly policy: RevivalPolicy }; currentTerm?: () => Promise<number>; announce?: (term: number) => Promise<boolean> };

/** How dead processes are started again, and how often they may be. */
export interface RevivalConfig {
  mode: "local" | "docker" | "none";
  /** coffee up's control API; unset: read from control.json next to the cluster file. */
  controlUrl?: string;
  /** The key it asks for; unset: read from control.json next to the cluster file. */
  controlKey?: string;
  dockerSocket: string;
  composeProject?: string;
  initialMs: number;
  maxMs: number;
  maxAttempts: number;
}

/** A monitor's options, checked and compiled (durations in ms). */
export interface MonitorConfig {
  name: string;
  /** Its cluster's namespace, said in its health replies (monitors use no broker). */
  namespace: string;
  id: number;
  /** Every monitor's election address by id; empty: this one alone. */
  peers: PeerAddresses;
  electionPort: number;
  electionHost: string;
  /** The key election messages are signed with (src/electionSeal.ts); null: coffee up's, else none. */
  electionKey: string | null;
  clusterFile: string;
  healthPort: number;
  healthHost: string;
  metricsPort: number;
  metricsHost: string;
  intervalMs: number;
  timeoutMs: number;
  missesToDown: number;
  heartbeatMs: number;
  leaderTimeoutMs: number;
  hungAfterMs: number;
  revival: RevivalConfig;
  dashboard: MonitorDashboardConfig;
}

/** Compile a monitor's option values; ConfigError for peers without this id, a port that disagrees with them, or a leader timeout under two heartbeats. */
export function monitorConfig(values: OptionValues): MonitorConfig {
  const id = int(values, "id");
  const peers = parsePeers(str(values, "peers"));
  const ownPeer = peers.get(id);
  if (peers.size > 0 && !ownPeer) throw new ConfigError(`--peers must include this monitor's own id ${id}`);
  // The other monitors send to the port --peers gives: listening anywhere else, this one would
  // hear no answer and lead alongside the real leader.
  const electionPort = int(values, "election-port");
  if (ownPeer && electionPort !== 0 && electionPort !== ownPeer.port) {
    throw new ConfigError(`--election-port ${electionPort} differs from this monitor's port in --peers (${id}=${ownPeer.host}:${ownPeer.port}); leave it out or make them agree`);
  }
  const heartbeatMs = int(values, "heartbeat-ms");
  const leaderTimeoutMs = int(values, "leader-timeout-ms");
  if (leaderTimeoutMs < 2 * heartbeatMs) {
    throw new ConfigError(`${sourceOf(values, "leader-timeout-ms")} (${leaderTimeoutMs}) must be at least twice ${sourceOf(values, "heartbeat-ms")} (${heartbeatMs}), the monitors' election heartbeat, or a leader between two heartbeats is taken for dead (the gateway's heartbeat to clients is COFFEE_CLIENT_HEARTBEAT_MS)`);
  }
  const reviveInitialMs = int(values, "revive-initial-ms");
  const reviveMaxMs = int(values, "revive-max-ms");
  if (reviveMaxMs < reviveInitialMs) throw new ConfigError(`${sourceOf(values, "revive-max-ms")} (${reviveMaxMs}) must be at least ${sourceOf(values, "revive-initial-ms")} (${reviveInitialMs}): it caps the doubling wait that starts there`);
  const controlUrl = values["control-url"] as string | undefined;
  const controlKey = optStr(values, "control-key");
  const composeProject = values["compose-project"] as string | undefined;
  return {
    name: str(values, "name"), namespace: str(values, "namespace"), id, peers, electionPort: ownPeer?.port ?? electionPort, electionHost: str(values, "election-host"),
    electionKey: optStr(values, "election-key") ?? null,
    clusterFile: str(values, "cluster-file"), healthPort: int(values, "health-port"), healthHost: str(values, "health-host"),
    metricsPort: int(values, "metrics-port"), metricsHost: str(values, "metrics-host"),
    intervalMs: int(values, "interval-ms"), timeoutMs: int(values, "timeout-ms"), missesToDown: int(values, "misses"),
    heartbeatMs, leaderTimeoutMs, hungAfterMs: int(values, "hung-after-ms"),
    revival: {
      mode: str(values, "revive") as RevivalConfig["mode"], dockerSocket: str(values, "docker-socket"),
      ...(controlUrl ? { controlUrl } : {}), ...(controlKey ? { controlKey } : {}), ...(composeProject ? { composeProject } : {}),
      initialMs: reviveInitialMs, maxMs: reviveMaxMs, maxAttempts: int(values, "revive-max-attempts"),
    },
    dashboard: { port: int(values, "dashboard-port"), host: str(values, "dashboard-host"), allowedHosts: str(values, "dashboard-allowed-hosts").split(",").map((h) => h.trim()).filter(Boolean) },
  };
}

/**
 * The processes whose revival budget this monitor has spent, for its health status: read from
 * the budgets themselves (src/revival.ts), so the list is right however they were spent, and
 * empties as each resets. `sinceS` counts from the last attempt (the policy's clock,
 * performance.now()).
 */
function givenUpStatus(backend: MonitorBackend | null, nowMs: number): { process: string; attempts: number; sinceS: number }[] {
  return (backend?.guard.policy.spent(nowMs) ?? []).map((n) => ({ process: n.name, attempts: n.attempts, sinceS: Math.round((nowMs - n.lastAttemptAt) / 1000) }));
}

/** Addresses only this machine reaches: an election port there needs no key to keep strangers out. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "::1", "localhost"]);

/** coffee up's control.json beside the cluster file: its control API's address and key (both absent when there is none). */
interface ControlFile {
  url?: string;
  key?: string;
}

function readControlFile(clusterFile: string): ControlFile | null {
  try {
    const read = JSON.parse(readFileSync(join(dirname(clusterFile), "control.json"), "utf8")) as { url?: unknown; key?: unknown };
    return { ...(typeof read.url === "string" ? { url: read.url } : {}), ...(typeof read.key === "string" ? { key: read.key } : {}) };
  } catch {
    return null;
  }
}

function backendFor(cfg: MonitorConfig, log: Logger, control: ControlFile | null): MonitorBackend | null {
  /** Processes found running but silent: asked about again every second, which need not be logged each time. */
  const foundRunning = new Set<string>();
  const onEvent = (e: RevivalEvent): void => {
    if (e.type !== "reviving" && e.type !== "running") foundRunning.delete(e.name);
    if (e.type === "reviving") {
      if (!foundRunning.has(e.name)) log.info(`reviving ${e.name} (attempt ${e.attempt}, term ${e.term})`);
    }
    else if (e.type === "revived") log.info(`revived ${e.name} (attempt ${e.attempt})`);
    else if (e.type === "running") foundRunning.add(e.name); // the health sweep says it once per silence
    else if (e.type === "failed") log.warn(`reviving ${e.name} failed (attempt ${e.attempt}): ${e.error}${e.retryInMs >= 0 ? `; retry in ${e.retryInMs} ms` : ""}`);
    else if (e.type === "gave-up") log.error(`gave up on ${e.name} after ${e.attempts} attempts; it stays down for a minute (or longer if its backoff is), then gets a fresh budget`);
    else log.warn(`revival of ${e.name} fenced: term ${e.term} is older than ${e.currentTerm}`);
  };
  const r = cfg.revival;
  const policy = new RevivalPolicy({ initialMs: r.initialMs, maxMs: r.maxMs, maxAttempts: r.maxAttempts, resetAfterMs: 60_000 });
  if (r.mode === "none") return null;
  if (r.mode === "docker") return new DockerRevivalBackend({ socketPath: r.dockerSocket, project: r.composeProject, policy, onEvent, log: (m) => log.info(m) });
  // control.json names the API and its key; --control-url and COFFEE_CONTROL_KEY (or
  // --control-key-file) stand in for it.
  const controlUrl = r.controlUrl ?? control?.url;
  if (!controlUrl) throw new ConfigError(`--revive local needs --control-url or ${join(dirname(cfg.clusterFile), "control.json")} (written by coffee up)`);
  const key = r.controlKey ?? control?.key;
  return new LocalRevivalBackend({ controlUrl, policy, onEvent, requester: cfg.name, ...(key !== undefined ? { key } : {}) });
}

/** Where a monitor is in its life: serving from create() on, then stopping once shutdown() is called. */
export type MonitorState = "running" | "stopping" | "stopped";

/** A monitor created in this process. */
export interface Monitor {
  /** Elect, and while leading check and revive, until shutdown(); resolves once everything it opened is closed. */
  run(): Promise<void>;
  /** Stop at the end of the health round under way (no wait for the next one). */
  shutdown(): Promise<void>;
  readonly state: MonitorState;
}

/**
 * Create a monitor: its election transport, dashboard, health and metrics servers listen when
 * this resolves; elections and health rounds begin with run().
 */
export async function createMonitor(cfg: MonitorConfig, log: Logger, metrics = new CoffeeMetrics({ role: "monitor", name: cfg.name })): Promise<Monitor> {
  const { name, id, peers, heartbeatMs, leaderTimeoutMs, timeoutMs } = cfg;
  const ids = peers.size > 0 ? [...peers.keys()] : [id];
  const control = readControlFile(cfg.clusterFile);
  const backend = backendFor(cfg, log, control);
  // coffee up's monitors share the key of its control.json; others are given one, or go unsigned.
  const electionKey = cfg.electionKey ?? control?.key ?? null;
  if (electionKey === null && ids.length > 1 && !LOOPBACK_HOSTS.has(cfg.electionHost)) {
    log.warn(`election messages are not signed (no COFFEE_ELECTION_KEY or --election-key-file): anyone who reaches ${cfg.electionHost}:${cfg.electionPort} can move the monitors' term, pose as their leader or stop their elections`);
  }
  const revivals = { attempts: 0 };
  const sweep = new HealthSweep({
    ping: async (e) => (await pingEntry(e, timeoutMs)) !== null,
    missesToDown: cfg.missesToDown,
    hungAfterMs: cfg.hungAfterMs,
    backend,
    stillLeading: () => election.isLeader(performance.now()),
    onRevived: (processName) => {
      revivals.attempts++;
      metrics.revivals.inc({ process: processName });
    },
    log,
  });
  const watch = new ClusterWatch(cfg.clusterFile, (e) => {
    if (e.type === "problem") log.warn(`${e.problem}: health-checking the ${e.processes} usable process(es) only`);
    else log.info(`${cfg.clusterFile} is usable again: health-checking ${e.processes} process(es)`);
  });
  const nameOf = (monitorId: number): string => `monitor-${monitorId}`;

  // A monitor restarted with no memory starts from the highest term the backend has fenced,
  // so the terms it claims are not refused.
  const initialTerm = (await backend?.currentTerm?.()) ?? 0;
  const election = new BullyElection({
    id, peers: ids, heartbeatMs, leaderTimeoutMs, initialTerm,
    answerTimeoutMs: Math.max(100, heartbeatMs * 2), coordinatorTimeoutMs: leaderTimeoutMs,
    // Unsigned, one message may not raise the term far: a forgery would otherwise end elections.
    ...(electionKey === null ? { maxTermStep: MAX_TERM_STEP } : {}),
  }, performance.now());
  // Said once a minute at most: a monitor given another key (or none) is otherwise ignored in silence.
  const unsigned = { dropped: 0, log: new LogThrottle(60_000) };
  const transport = startElectionTransport(cfg.electionPort, cfg.electionHost, peers, (m) => {
    const message = openElectionMessage(electionKey, m);
    if (message) return perform(election.receive(message, performance.now()));
    if (toElectionMessage(m) === null) return;
    unsigned.dropped++;
    if (!unsigned.log.due()) return;
    log.warn(`ignored an election message not signed with this monitor's election key (${unsigned.dropped} so far): a monitor given another key or none, or a forgery`);
  }, (err) => log.error(`handling an election message failed: ${errorMessage(err)}`));
  const cannotLeadLog = new LogThrottle(60_000);
  function perform(actions: ElectionAction[]): void {
    for (const a of actions) {
      if (a.type === "send") transport.send(a.to, sealElectionMessage(electionKey, a.message));
      else if (a.type === "leader") {
        backend?.guard.observeTerm(a.term);
        // Fence any older leader at the backend at once, not only at our first revival.
        void backend?.announce?.(a.term);
        sweep.resetMisses();
        log.info(`leader now: ${name} (term ${a.term})`);
      } else if (a.type === "follower") {
        backend?.guard.observeTerm(a.term);
        // Only the leader reads the cluster file and checks processes: what it found wrong is no
        // longer this monitor's to show.
        watch.reset();
        sweep.forgetDown();
        // Its spent budgets stay with it, and hold again if it leads again before they reset;
        // coffee status reads the leader's alone.
        log.info(`leader now: ${nameOf(a.leader)} (term ${a.term})`);
      } else if (a.type === "cannot-lead") {
        // It comes again at every election round: said once a minute.
        if (!cannotLeadLog.due()) continue;
        log.error(`cannot lead: term ${a.term} is as high as a term may go (${MAX_TERM}), which no run of elections reaches: an election message${electionKey === null ? " forged (they are not signed: give every monitor COFFEE_ELECTION_KEY)" : " from a monitor gone wrong"}; restart every monitor at once to start terms afresh`);
      } else {
        watch.reset();
        sweep.forgetDown();
        log.warn(`stepped down from leading term ${a.term}`);
      }
    }
  }

  // Before the health server answers, so a monitor coffee up sees as ready serves its page.
  let dashboard: Awaited<ReturnType<typeof startMonitorDashboard>> = null;
  let health: HealthServer;
  try {
    dashboard = await startMonitorDashboard(cfg.dashboard, { clusterFile: cfg.clusterFile, servedBy: name, timeoutMs: Math.max(timeoutMs, 300), log,
      election: () => ({ leader: election.leader === null ? null : nameOf(election.leader), term: election.term, state: election.state }) });
    health = await startHealthServer({
      port: cfg.healthPort,
      host: cfg.healthHost,
      status: () => ({ role: "monitor", name, namespace: cfg.namespace, id, state: election.state, term: election.term, leader: election.leader === null ? "" : nameOf(election.leader), down: sweep.down.size, revivals: revivals.attempts, gaveUp: givenUpStatus(backend, performance.now()), clusterFileProblem: watch.problem ?? "",
        rssMb: Math.round(process.memoryUsage.rss() / 1_048_576), heapMb: Math.round(heapSize() / 1_048_576) }),
    });
  } catch (err) {
    // A monitor that cannot start (its health port taken) closes what it opened already.
    transport.close();
    dashboard?.stop();
    throw err;
  }
  log.info(`health on udp/${health.port}; election on tcp/${cfg.electionPort} among ${ids.join(",")}; watching ${cfg.clusterFile}`);
  metrics.leaderTerm.track({}, () => election.term);
  metrics.isLeader.track({}, () => (election.isLeader(performance.now()) ? 1 : 0));
  metrics.processesDown.track({}, () => sweep.down.size);
  const metricsServer = serveMetrics(metrics, cfg.metricsPort, cfg.metricsHost, log);

  let state: MonitorState = "running";
  let ran: Promise<void> | null = null;
  // The pause between rounds, cut short by shutdown. A timer of its own rather than a race with a
  // stop promise, which would keep one more reaction per round for the monitor's whole life.
  let pause: { timer: ReturnType<typeof setTimeout>; end: () => void } | null = null;
  const pauseFor = (ms: number): Promise<void> => new Promise((resolve) => {
    const end = (): void => { if (pause) clearTimeout(pause.timer); pause = null; resolve(); };
    pause = { timer: setTimeout(end, ms), end };
  });

  /** The rounds, then the closing of everything create() opened (at once for a monitor shut down before it ran). */
  async function loop(): Promise<void> {
    let ticker: ReturnType<typeof setInterval> | undefined;
    if (state === "running") {
      perform(election.start(performance.now()));
      ticker = setInterval(() => perform(election.tick(performance.now())), tickIntervalMs(heartbeatMs));
    }
    try {
      while (state === "running") {
        const round = performance.now();
        if (election.isLeader(round)) await sweep.round(watch.read().filter((e) => e.name !== name), election.term);
        const waitMs = cfg.intervalMs - (performance.now() - round);
        if (waitMs > 0 && state === "running") await pauseFor(waitMs);
      }
    } finally {
      clearInterval(ticker);
      await sweep.settled();
      transport.close();
      health.close();
      dashboard?.stop();
      metricsServer?.stop();
      state = "stopped";
    }
  }

  return {
    get state() {
      return state;
    },
    run() {
      ran ??= loop();
      return ran;
    },
    async shutdown() {
      if (state === "running") state = "stopping";
      pause?.end();
      ran ??= loop();
      await ran;
    },
  };
}

/** `coffee --role monitor`. */
export const monitorCommand: Command = {
  name: "monitor",
  usage: "coffee --role monitor [--id N --peers 1=host:port,...] [options]",
  description: "Elects a leader among monitors; the leader health-checks every process and revives the dead.",
  options: OPTIONS,
  async run(values) {
    const cfg = monitorConfig(values);
    const log = createLogger(cfg.name);
    const monitor = await createMonitor(cfg, log, new CoffeeMetrics({ role: "monitor", name: cfg.name }, { processMetrics: true }));
    const stop = (): void => void monitor.shutdown().catch((err: unknown) => log.error(`stopping failed: ${errorMessage(err)}`));
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    await monitor.run();
    return 0;
  },
};
