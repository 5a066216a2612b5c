/**
 * `coffee up`: the whole cluster on this machine as child processes, rendered from the topology:
 * gateway, every stage's worker replicas, the four aggregators and the monitors. Writes
 * <state>/cluster.json, prints a `ready` line once every process answers its health check and
 * the gateway accepts clients, and stops every child on SIGINT/SIGTERM.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../command.ts";
import { CoffeeError, codedMessage, ConfigError, errorMessage } from "../errors.ts";
import { childLastError, childRefusal } from "../childRefusal.ts";
import { startHealthServer, pingHealth, type HealthServer } from "../health.ts";
import { createLogger, type Logger } from "../log.ts";
import { MemoryBroker, MemoryTransport } from "../memoryTransport.ts";
import { bool, int, str, type OptionSpec } from "../options.ts";
import { joinHostPort } from "../hostPort.ts";
import { claimTcpPort, freeTcpPort, freeUdpPort, tcpAccepts, tcpPortFree } from "../ports.ts";
import { brokerProbe, rabbitmqInstalled, startPrivateBroker, type PrivateBroker } from "../privateBroker.ts";
import { type RoleInstance } from "../roleRuntime.ts";
import { QUEUE_TYPES } from "../amqpTransport.ts";
import { brokerAddress, brokerClosedAtOpen, brokerEnv, brokerOptions, brokerRefusedUs, CLOSED_AT_OPEN_CAUSE, type BrokerAddress } from "../brokerAddress.ts";
import { redactIn, redactUrl } from "../redact.ts";
import { envGatewayConfig } from "../../roles/gateway.ts";
import { isWildcardHost, OPEN_GATEWAY_WARNING } from "../openGateway.ts";
import { inProcessTuningFromEnv, startInProcessCluster } from "../inProcessCluster.ts";
import { deleteNamespace, namespaceConsumers, type ConsumedQueue } from "../namespaceAdmin.ts";
import { acquireNamespaceLock, lockQueueName, type NamespaceLock, type NamespaceLockEvent } from "../namespaceLock.ts";
import { PARENT_PID_ENV } from "../parentWatch.ts";
import { selfCommand } from "../selfCommand.ts";
import { Supervisor, type ChildSpec } from "../supervisor.ts";
import { parseReplicas, STAGES } from "../topology.ts";
import { writeJsonAtomic } from "../atomicFile.ts";
import { startControlApi, type ControlApi } from "../controlApi.ts";
import { lockStateDir } from "../stateDirLock.ts";
import { startLogRotation, type LogRotation } from "../logRotation.ts";
import { removeRetiredLeftovers, retireStateDirs } from "../retiredState.ts";
import { stateDirOrphans, type StateDirOrphan } from "../stateDirOrphans.ts";
import { DEPLOY_MODES, planCluster, type ClusterProcess, type DeployMode } from "../clusterPlan.ts";

/** How often an out-of-date cluster.json (its write failed) is written again. */
const CLUSTER_RETRY_MS = 1000;
/** How often the children's log sizes are checked against --log-max-mb. */
const LOG_ROTATION_CHECK_MS = 10_000;

const OPTIONS: readonly OptionSpec[] = [
  { name: "state-dir", type: "string", env: "COFFEE_STATE_DIR", default: "./state", help: "cluster.json, logs and all state files live below it" },
  { name: "port", type: "int", env: "GATEWAY_PORT", default: 9000, min: 1, max: 65535, help: "gateway TCP port" },
  { name: "host", type: "string", env: "GATEWAY_HOST", default: "127.0.0.1", help: "address the gateway listens on: this machine only, like every other endpoint of coffee up; 0.0.0.0 for clients on other machines (then set COFFEE_TOKEN, the secret the gateway asks every client for)" },
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "prefix of every queue and exchange; one another coffee up holds, or whose queues have consumers (another cluster), is refused" },
  ...brokerOptions("RabbitMQ URL, amqp:// or amqps:// (TLS); when nothing answers there, see --transport"),
  { name: "queue-type", type: "enum", env: "COFFEE_QUEUE_TYPE", default: "classic", choices: QUEUE_TYPES, help: "RabbitMQ queue type for every process: classic or quorum (replicated)" },
  { name: "transport", type: "enum", env: "COFFEE_TRANSPORT", default: "auto", choices: ["auto", "amqp", "memory"], help: "auto: the broker at AMQP_URL (or AMQP_URL_FILE); if nothing answers there, a private rabbitmq-server if installed, else everything in this process over an in-memory transport (a broker that answers but refuses, e.g. wrong credentials or certificate, is an error)" },
  { name: "replicas", type: "string", env: "COFFEE_REPLICAS", default: "", help: `worker replicas per stage (1..64 each), e.g. filter-year=3,group-q2=2 (stages: ${STAGES.map((s) => s.name).join(", ")}); with --deploy fused a chain runs as many replicas as its most replicated stage` },
  { name: "deploy", type: "enum", env: "COFFEE_DEPLOY", default: "fused", choices: DEPLOY_MODES, help: "fused: each chain of stages in one process per replica (fewer broker hops); split: one process per stage" },
  { name: "monitors", type: "int", env: "COFFEE_MONITORS", default: 3, min: 0, max: 9, help: "monitor processes" },
  { name: "max-sessions", type: "int", env: "COFFEE_MAX_SESSIONS", default: 5, min: 1, max: 10000, help: "concurrent client sessions at the gateway" },
  { name: "log-max-mb", type: "int", env: "COFFEE_LOG_MAX_MB", default: 32, min: 0, max: 65_536, help: "a child's log in <state-dir>/logs over this many MiB moves to <name>.log.1 (replacing the one before) and starts again empty (0 = never)" },
  { name: "delete-on-exit", type: "bool", default: false, help: "delete the namespace's queues and exchange from the broker on shutdown, and with them the gateway's and aggregators' state (which refers to their messages); logs stay (demos and tests)" },
  { name: "restart", type: "enum", env: "COFFEE_RESTART", default: "auto", choices: ["auto", "always", "never"], help: "what coffee up itself does with children that exit; monitors revive children whatever this says (auto: up restarts a monitor still down after 5 s, and every child when there are no monitors; always: up restarts every child at once, with backoff; never: up restarts none, so with --monitors 0 a child that exits stays down)" },
  { name: "dashboard-port", type: "int", env: "COFFEE_DASHBOARD_PORT", default: 0, min: 0, max: 65535, help: "serve the web dashboard from monitor-1 on http://127.0.0.1:N/ (0 = off)" },
];

/** `coffee up`. */
export const upCommand: Command = {
  name: "up",
  usage: "coffee up [--state-dir DIR] [--port N] [--namespace NAME] [--replicas stage=n,...] [options]",
  description: "Runs a whole cluster on this machine as child processes until SIGINT/SIGTERM. Every child inherits this environment, so the roles' own options (COFFEE_SESSION_TTL_S, COFFEE_CLIENT_IDLE_S, COFFEE_RESULT_TIMEOUT_S, ...) are set through it.",
  options: OPTIONS,
  async run(values) {
    const log = createLogger("up");
    const stateDir = resolve(str(values, "state-dir"));
    const namespace = str(values, "namespace");
    const port = int(values, "port");
    const host = str(values, "host");
    // A wildcard opens the gateway to the network; clients on this machine still reach it on loopback.
    const wildcard = isWildcardHost(host);
    // As the gateway will read them (its child inherits this environment): a bad value fails now.
    const gatewayEnv = envGatewayConfig(process.env, { host, port, maxSessions: int(values, "max-sessions") });
    // The workers' and aggregators' own variables, checked as they will be, and applied to roles
    // run in this process too. What each child runs is coffee up's to say.
    const tuning = inProcessTuningFromEnv(process.env);
    const chosen = ["COFFEE_STAGE", "COFFEE_CHAIN"].filter((name) => (process.env[name] ?? "") !== "");
    if (chosen.length > 0) throw new ConfigError(`${chosen.join(", ")} ${chosen.length > 1 ? "are" : "is"} set: coffee up chooses what each worker runs (--replicas, --deploy); unset ${chosen.length > 1 ? "them" : "it"}`);
    /** The gateway's address as a client on this machine dials it (IPv6 in brackets, before the port). */
    const gatewayAddress = joinHostPort(wildcard ? "127.0.0.1" : host, port);
    const replicas = parseReplicas(str(values, "replicas"));
    // monitor-1 serves the dashboard; a taken port is one clear error here, not a line in its log.
    const dashboardPort = int(values, "dashboard-port");
    if (dashboardPort > 0 && int(values, "monitors") === 0) throw new ConfigError("--dashboard-port needs a monitor to serve it (--monitors is 0)");
    // Free now, both of them, yet one port cannot serve the two: the gateway would find the dashboard on it.
    if (dashboardPort === port) throw new ConfigError(`--dashboard-port ${dashboardPort} is the gateway's --port; give each its own`);
    if (dashboardPort > 0 && !tcpPortFree(dashboardPort)) throw new ConfigError(`--dashboard-port ${dashboardPort} is in use`);
    // Checked before anything starts: a gateway that cannot listen would leave a half cluster.
    if (!tcpPortFree(0, host)) throw new ConfigError(`--host ${host} is not an address this machine can listen on`);
    if (!tcpPortFree(port, "0.0.0.0")) throw new ConfigError(`--port ${port} is in use (another coffee up, or another server); choose another --port (a second cluster also needs its own --namespace and --state-dir)`);
    claimTcpPort(port);
    if (dashboardPort > 0) claimTcpPort(dashboardPort);
    // A second coffee up on this directory would take over cluster.json, control.json and the
    // logs, and the first one's monitors would then kill its healthy processes. Held until exit.
    const lock = lockStateDir(stateDir, "one coffee up per state directory; give this cluster its own --state-dir");
    if (!lock.locked) log.warn(`state directory ${stateDir} is not locked against a second coffee up: ${lock.unlockedBecause}`);
    const logDir = join(stateDir, "logs");
    mkdirSync(logDir, { recursive: true });
    const clusterFile = join(stateDir, "cluster.json");

    // Listening before anything starts: a signal while the broker or the children start must
    // still stop them (it is acted on once starting is over).
    let signalled: (s: string) => void = () => {};
    const signal = new Promise<string>((r) => (signalled = r));
    let signalledWith: string | null = null;
    const onSignal = (name: string): void => {
      signalledWith ??= name;
      signalled(name);
    };
    // `on`, not `once`: a second signal during shutdown must not kill us before the children.
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));

    let address: BrokerAddress = brokerAddress(values);
    let mode = str(values, "transport");
    let broker: PrivateBroker | null = null;
    /** The namespace on the broker is this cluster's to delete (--delete-on-exit): it answered, and no other cluster uses the namespace. */
    let namespaceOurs = false;
    /** Held from before the namespace check until exit, so two coffee up cannot both pass it. */
    let namespaceLock: NamespaceLock | null = null;
    // Whatever has started, for shutdown: also when starting fails halfway.
    let supervisor: Supervisor | null = null;
    let control: ControlApi | null = null;
    let logRotation: LogRotation | null = null;
    /** Roles run in this process (no broker: the in-memory transport), each with its health server once it has one. */
    const local: { name: string; instance: RoleInstance; health: HealthServer | null }[] = [];
    /** Folders of the state dir whose logs point at the namespace's messages (gateway, aggregators): --delete-on-exit deletes them with it. */
    let brokerBoundState: string[] = [];
    /** Set while cluster.json is out of date because writing it failed: tried again every second. */
    let clusterRetry: ReturnType<typeof setTimeout> | null = null;
    let clusterStale = false;
    let stopping: Promise<void> | null = null;
    const shutdown = (why: string): Promise<void> => {
      stopping ??= (async () => {
        if (clusterRetry) clearTimeout(clusterRetry);
        // A start that failed before any process ran says only why (the error line), not "stopping 0".
        const started = (supervisor?.list().length ?? 0) + local.length > 0 || broker !== null;
        if (started) log.info(`${why}: stopping ${supervisor?.list().length ?? 0} child processes${local.length > 0 ? ` and ${local.length} in this process` : ""}`);
        await supervisor?.stopAll();
        logRotation?.stop();
        control?.stop();
        for (const l of local) { await l.instance.shutdown(); l.health?.close(); }
        if (mode === "amqp" && !broker && namespaceOurs && bool(values, "delete-on-exit")) {
          // Without the lock the queues may be another cluster's now: deleting them would drop its messages.
          if (namespaceLock?.held()) {
            const deleted = await deleteNamespace(address, namespace).then(() => true, (err: unknown) => {
              log.warn(`could not delete namespace ${namespace}: ${String(err)}`);
              return false;
            });
            // Their sessions' messages went with the queues: kept, the next coffee up here would
            // resume sessions whose data is gone, and its clients would wait out the stall deadline.
            if (deleted) {
              try {
                retireStateDirs(stateDir, brokerBoundState);
                log.info(`deleted namespace ${namespace}, and the gateway's and aggregators' state in ${stateDir} (--delete-on-exit)`);
              } catch (err) {
                log.warn(`deleted namespace ${namespace}, but not all of the gateway's and aggregators' state in ${stateDir}: ${errorMessage(err)}; delete it before starting a cluster there again`);
              }
            }
          } else log.warn(`namespace ${namespace} not deleted (--delete-on-exit): this coffee up has not held it since its lock's connection was lost (the broker unreachable, or another connection holding it), and without the lock its queues may be another cluster's`);
        }
        // Last: the namespace stays this cluster's until its queues are gone.
        await namespaceLock?.release();
        broker?.stop();
        if (started) log.info("cluster stopped");
      })();
      return stopping;
    };
    // In-process roles keep their state in this process only: one that stops cannot be revived
    // with what it held, so the cluster stops (exit 1) rather than serve sessions that never end.
    let roleFailure: string | null = null;
    const onRoleStopped = (name: string, err: unknown): void => {
      if (stopping) return;
      roleFailure ??= `${name} stopped${err === null ? "" : ` with an error: ${errorMessage(err)}`}`;
      log.error(`${roleFailure}; the in-memory transport keeps no state to revive it from, so the cluster stops`);
      onSignal("an in-process role stopped");
    };
    // A child that exits 2 refused its configuration (src/errors.ts REFUSAL_CODES): before the
    // cluster is ready that ends coffee up with the child's reason, since restarts cannot help.
    let ready = false;
    /** The first refusal before ready: the readiness loop looks at it after each round of health checks. */
    let refusedWith: CoffeeError | null = null;
    const onChildExit = (spec: ChildSpec, code: number | null, logFrom: number): void => {
      if (code !== 2) {
        // A crash loop then says why here, not only in the child's own log.
        const lastError = code === null || code === 0 ? null : childLastError(join(logDir, `${spec.name}.log`), logFrom);
        if (lastError) log.warn(`${spec.name} exited with: ${lastError}`);
        return;
      }
      const why = childRefusal(spec.name, join(logDir, `${spec.name}.log`), logFrom);
      if (!ready) refusedWith ??= why;
      // After ready the configuration was fine once: what changed is around it, most often a port
      // coffee up chose for the child, taken by another process while the child was down.
      else log.error(`${codedMessage(why)}; it fails again at each restart until that is changed (a port coffee up chose for it: free the port, or restart the cluster, which chooses again)`);
    };
    const deploy = str(values, "deploy") as DeployMode;
    const plan = planCluster(replicas, int(values, "monitors"), deploy);
    brokerBoundState = plan.filter((p) => p.role === "gateway" || p.role === "aggregator").map((p) => p.name);
    for (const left of removeRetiredLeftovers(stateDir, brokerBoundState)) log.info(`removed ${join(stateDir, left)}, which an earlier --delete-on-exit set aside`);
    const healthPorts = new Map<string, number>();
    try {
      const failure = mode === "memory" ? null : await brokerProbe(address);
      if (failure !== null) {
        const why = redactIn(failure, address.url);
        if (mode === "amqp") throw new ConfigError(`no broker answers at ${redactUrl(address.url)}: ${why} (--transport amqp)`);
        // A broker is there but refuses us: starting another one would hide the mistake.
        if (brokerRefusedUs(failure)) throw new ConfigError(`the broker at ${redactUrl(address.url)} refused the connection: ${why} (fix AMQP_URL, its credentials or AMQP_CA_FILE; --transport memory runs without a broker)`);
        // Nor one that answered and closed the connection as it opened (no such vhost, no connection to spare).
        if (brokerClosedAtOpen(failure)) throw new ConfigError(`the broker at ${redactUrl(address.url)} answered but closed the connection as it opened: ${CLOSED_AT_OPEN_CAUSE}: ${why} (--transport memory runs without a broker)`);
        if (rabbitmqInstalled()) {
          // A warning: a mistyped AMQP_URL lands here too, and the cluster then runs on a broker the user did not mean.
          log.warn(`no broker answers at ${redactUrl(address.url)} (${why}); rabbitmq-server is installed, starting a private node (--transport amqp to use only that broker)`);
          broker = await startPrivateBroker(join(stateDir, "rabbitmq"), (m) => log.info(m));
          address = { url: broker.url };
          mode = "amqp";
        } else {
          log.warn(`no broker answers at ${redactUrl(address.url)} (${why}) and rabbitmq-server is not installed: running every role in this process over the in-memory transport (no durability across restarts; --transport amqp to refuse instead)`);
          mode = "memory";
        }
      } else if (mode === "auto") mode = "amqp";
      // A child gateway's warning goes to its log file; an in-process one says it here itself.
      if (wildcard && gatewayEnv.token === null && mode !== "memory") log.warn(OPEN_GATEWAY_WARNING);
      // Two clusters in one namespace share its queues, so each takes the other's messages and
      // neither finishes a session: refused before anything starts (a private node is new, empty).
      if (mode === "amqp" && !broker) {
        const uncheckable = (err: unknown): never => {
          throw new CoffeeError("BROKER_UNAVAILABLE", `could not check whether namespace "${namespace}" is in use at ${redactUrl(address.url)}: ${redactIn(errorMessage(err), address.url)}`);
        };
        // The lock settles two coffee up started together; the consumers, a cluster started otherwise (compose, roles by hand).
        namespaceLock = await acquireNamespaceLock(address, namespace, (e) => logLockEvent(log, namespace, "reason" in e ? { ...e, reason: redactIn(e.reason, address.url) } : e)).catch(uncheckable);
        if (namespaceLock === null) throw new ConfigError(namespaceLocked(namespace));
        const consumed = await namespaceConsumers(address, namespace).catch(uncheckable);
        if (consumed.length > 0) throw new ConfigError(namespaceInUse(namespace, consumed, stateDirOrphans(stateDir)));
        namespaceOurs = true;
      }
      // Told to stop while the broker started (it can take a while): start nothing more.
      if (signalledWith !== null) {
        await shutdown(signalledWith);
        return 0;
      }

      // Monitors elect a leader over TCP: every monitor gets every monitor's address.
      const electionPorts = new Map(plan.filter((p) => p.role === "monitor").map((p, i) => [i + 1, freeTcpPort()]));
      const peersSpec = [...electionPorts].map(([id, p]) => `${id}=127.0.0.1:${p}`).join(",");
      const inProcess = mode === "memory";
      for (const p of plan) healthPorts.set(p.name, await freeUdpPort());
      // Every child process serves Prometheus metrics on a port of its own (recorded in cluster.json).
      const metricsPorts = new Map(plan.filter((p) => !inProcess || p.role === "monitor").map((p) => [p.name, freeTcpPort()]));

      const writeCluster = (): void => {
        if (clusterRetry) clearTimeout(clusterRetry);
        clusterRetry = null;
        const children = new Map((supervisor?.list() ?? []).map((c) => [c.spec.name, c]));
        const entries: ClusterProcess[] = plan.map((p) => ({
          name: p.name, role: p.role,
          pid: inProcess && p.role !== "monitor" ? process.pid : (children.get(p.name)?.pid ?? null),
          alive: inProcess && p.role !== "monitor" ? true : (children.get(p.name)?.alive ?? false),
          healthPort: healthPorts.get(p.name)!,
          ...(metricsPorts.has(p.name) ? { metricsPort: metricsPorts.get(p.name) } : {}),
          restarts: children.get(p.name)?.restarts ?? 0,
          ...(p.stage ? { stage: p.stage } : {}), ...(p.chain ? { chain: p.chain } : {}), ...(p.query ? { query: p.query } : {}),
          ...(inProcess && p.role !== "monitor" ? { inProcess: true } : {}),
          namespace,
        }));
        try {
          writeJsonAtomic(clusterFile, entries);
        } catch (err) {
          // A full disk, say. Monitors and `coffee status` read pids from it: it must catch up
          // once the disk has room, not only at the next restart. The failure is said by the caller.
          clusterStale = true;
          clusterRetry = setTimeout(() => {
            clusterRetry = null;
            if (stopping) return;
            try {
              writeCluster();
            } catch {
              // still failing: the next try is scheduled
            }
          }, CLUSTER_RETRY_MS);
          throw err;
        }
        if (clusterStale) log.info(`${clusterFile} is up to date again`);
        clusterStale = false;
      };
      const monitors = int(values, "monitors");
      const restartPolicy = str(values, "restart");
      // auto: monitors revive everything; up restarts a monitor only if it is still down after
      // 5 s (if every monitor died, nothing else would); with no monitors, up restarts all.
      const children = new Supervisor(logDir, (m) => log.info(m), () => writeCluster(), (spec) =>
        restartPolicy === "always" || (restartPolicy === "auto" && monitors === 0) ? "backoff"
        : restartPolicy === "auto" && spec.role === "monitor" ? 5000 : null,
        monitors === 0 ? "not restarted (--restart never, and no monitors)" : "left to the monitors", onChildExit);
      // Monitors revive children through this API (term-fenced); see src/controlApi.ts.
      supervisor = children;
      const logMaxMb = int(values, "log-max-mb");
      logRotation = startLogRotation(logDir, logMaxMb * 1_048_576, LOG_ROTATION_CHECK_MS,
        (file) => {
          children.logRotated(file.replace(/\.log$/, ""));
          log.info(`${file} passed --log-max-mb ${logMaxMb}: what it held is now in ${file}.1`);
        }, (m) => log.warn(m));
      // The key keeps the API to those who can read control.json: this user (the file is 0600).
      const controlKey = randomBytes(24).toString("base64url");
      const api = startControlApi(children, (m) => log.warn(m), () => !clusterStale, controlKey);
      control = api;
      writeJsonAtomic(join(stateDir, "control.json"), { url: api.url, key: controlKey }, 0o600);
      const self = selfCommand();
      for (const p of plan) {
        if (inProcess && p.role !== "monitor") continue;
        const spec: ChildSpec = {
          name: p.name,
          role: p.role,
          healthPort: healthPorts.get(p.name)!,
          argv: [...self, "--role", p.role, ...p.args],
          env: {
            COFFEE_NAME: p.name,
            // Children stop by themselves if coffee up dies without stopping them (src/parentWatch.ts).
            [PARENT_PID_ENV]: String(process.pid),
            COFFEE_NAMESPACE: namespace,
            COFFEE_STATE_DIR: stateDir,
            ...brokerEnv(address),
            COFFEE_QUEUE_TYPE: str(values, "queue-type"),
            HEALTH_PORT: String(healthPorts.get(p.name)),
            COFFEE_METRICS_PORT: String(metricsPorts.get(p.name) ?? 0),
            // A laptop cluster's endpoints stay on this machine; compose binds every interface.
            COFFEE_METRICS_HOST: "127.0.0.1",
            HEALTH_HOST: "127.0.0.1",
            COFFEE_ELECTION_HOST: "127.0.0.1",
            ...(p.role === "gateway" ? { GATEWAY_HOST: host, GATEWAY_PORT: String(port), COFFEE_MAX_SESSIONS: String(int(values, "max-sessions")) } : {}),
            ...(p.role === "monitor" ? { COFFEE_CLUSTER_FILE: clusterFile, COFFEE_MONITOR_ID: p.name.slice("monitor-".length), COFFEE_MONITOR_PEERS: peersSpec,
              COFFEE_DASHBOARD_PORT: p.name === "monitor-1" ? String(dashboardPort) : "0",
              // This cluster's control API and key are in its control.json: ones inherited from
              // the environment (another cluster's) would be refused at every revival, and its
              // monitors sign elections with that key too. Empty = unset.
              COFFEE_CONTROL_URL: "", COFFEE_CONTROL_KEY: "", COFFEE_CONTROL_KEY_FILE: "", COFFEE_ELECTION_KEY: "", COFFEE_ELECTION_KEY_FILE: "" } : {}),
          },
        };
        children.start(spec);
      }

      if (inProcess) {
        const memory = new MemoryBroker();
        const cluster = await startInProcessCluster(
          gatewayEnv,
          replicas,
          (name, plog) => new MemoryTransport(memory, namespace, (err) => plog.error(String(err))),
          false,
          deploy,
          onRoleStopped,
          undefined,
          tuning,
        );
        for (const r of cluster.roles) local.push({ name: r.name, instance: r.instance, health: null });
        for (const [i, r] of cluster.roles.entries()) {
          local[i]!.health = await startHealthServer({ port: healthPorts.get(r.name)!, host: "127.0.0.1", status: () => ({ role: r.role, name: r.name, namespace, ...r.instance.status() }) });
        }
      }
      writeCluster();
    } catch (err) {
      await shutdown("startup failure");
      throw err;
    }

    // Ready = every process answers PING and the gateway accepts TCP. Children announce nothing
    // to us, so probing them is the observable event; give up after a minute.
    const deadline = performance.now() + 60_000;
    for (;;) {
      const replies = await Promise.all(plan.map((p) => pingHealth("127.0.0.1", healthPorts.get(p.name)!, 300)));
      // A child that refused its configuration will not answer however long this waits.
      if (refusedWith !== null) break;
      if (replies.every((r) => r !== null && r.status.state !== "starting") && (await tcpAccepts(wildcard ? "127.0.0.1" : host, port))) break;
      if (performance.now() > deadline) {
        const silent = plan.filter((_, i) => replies[i] === null).map((p) => p.name);
        log.error(`cluster not ready after 60 s; silent: ${silent.join(", ") || "(gateway port closed)"}; logs in ${logDir}`);
        await shutdown("startup failure");
        return 1;
      }
      const raced = await Promise.race([Bun.sleep(250).then(() => null), signal]);
      if (raced) { await shutdown(raced); return roleFailure === null ? 0 : 1; }
    }
    // Also when every process answered: one may have refused since its answer.
    if (refusedWith !== null) {
      await shutdown("a child refused its configuration");
      throw refusedWith;
    }
    ready = true;
    // In memory, every role but the monitors runs inside this process.
    const counted = mode === "memory" ? `${plan.length} roles (${plan.filter((p) => p.role !== "monitor").length} of them inside this process)` : `${plan.length} processes`;
    process.stdout.write(`coffee cluster ready: gateway ${gatewayAddress}${wildcard ? ` (listening on every interface)` : ""}, ${counted}, transport ${mode}${mode === "amqp" ? ` (${redactUrl(address.url)})` : ""}, namespace ${namespace}, state ${stateDir}${dashboardPort > 0 ? `, dashboard http://127.0.0.1:${dashboardPort}/` : ""}\n`);
    await shutdown(await signal);
    return roleFailure === null ? 0 : 1;
  },
};

/** Why a namespace another coffee up holds cannot take this cluster, and what to do. */
function namespaceLocked(namespace: string): string {
  return `namespace "${namespace}" is in use on this broker: another coffee up holds it (its exclusive queue ${lockQueueName(namespace)}); two clusters in one namespace take each other's messages. Give this cluster its own --namespace (and --port, --state-dir), or stop the other one`;
}

/** A held namespace lock's ups and downs, in coffee up's log. */
function logLockEvent(log: Logger, namespace: string, e: NamespaceLockEvent): void {
  if (e.type === "lost") log.warn(`lost the hold on namespace "${namespace}" (${e.reason}); taking it again once the broker answers`);
  else if (e.type === "regained") log.info(`namespace "${namespace}" held again`);
  else if (e.type === "retrying") log.warn(`cannot take namespace "${namespace}" again yet: ${e.reason}; trying again`);
  else log.error(`namespace "${namespace}" is held by another connection since this coffee up lost its hold: another coffee up (two clusters would then share the namespace: stop one of them), or this one's old connection, which the broker drops once it misses its heartbeats; trying again`);
}

/** Why a namespace whose queues have consumers cannot take another cluster, and what to do. */
function namespaceInUse(namespace: string, consumed: readonly ConsumedQueue[], orphans: readonly StateDirOrphan[]): string {
  const total = consumed.reduce((n, q) => n + q.consumers, 0);
  const first = consumed[0]!;
  if (orphans.length > 0) {
    const listed = orphans.map((o) => `${o.name} pid ${o.pid}${o.stopped ? " (stopped)" : ""}`).join(", ");
    return `namespace "${namespace}" is in use on this broker: ${total} consumer(s) on its queues (${first.queue}${consumed.length > 1 ? ` and ${consumed.length - 1} more` : ""}), and processes an earlier cluster on this state dir left running still hold it: ${listed}. Its coffee up was killed before they saw it go${orphans.some((o) => o.stopped) ? " (a stopped process sees nothing until continued)" : ""}: stop them (kill ${orphans.map((o) => o.pid).join(" ")}${orphans.some((o) => o.stopped) ? `, or kill -CONT to let them stop on their own` : ""}) and start again`;
  }
  return `namespace "${namespace}" is in use on this broker: ${total} consumer(s) on its queues (${first.queue}${consumed.length > 1 ? ` and ${consumed.length - 1} more` : ""}), another cluster's processes; two clusters in one namespace take each other's messages. Give this cluster its own --namespace (and --port, --state-dir), or stop the other one (if it just stopped, its processes may need a few seconds to go)`;
}
