/**
 * Gateway role: the clients' TCP entry point. Gives each client a session (UUID), validates and
 * types its rows, publishes them with confirms and acks each client batch only once the broker
 * confirmed it; relays each session's result chunks to that session's connection only.
 */
import type { TCPSocketListener } from "bun";
import type { Command } from "../src/command.ts";
import { CoffeeError, ConfigError, errorMessage, hasCode } from "../src/errors.ts";
import { jitteredBackoffMs } from "../src/backoff.ts";
import { DEFAULT_HEARTBEAT_S, heartbeatSecondsOf } from "../src/amqpTransport.ts";
import { exitOnFatal, FatalStop, type OnFatal } from "../src/fatal.ts";
import { tcpPortFree } from "../src/ports.ts";
import { writeFrame } from "../src/frame.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { int, optStr, parseOptions, str, type OptionSpec, type OptionValues } from "../src/options.ts";
import { encodeProtocolTransient, MAX_HEARTBEAT_MS, type GatewayMessage } from "../src/protocol.ts";
import { COMMON_OPTIONS, commonConfig, runRoleProcess, type RoleInstance } from "../src/roleRuntime.ts";
import { MAX_FIELD_BYTES, QUERIES } from "../src/schema.ts";
import type { Consumer, Transport } from "../src/transport.ts";
import { GatewayStore } from "../src/gatewayStore.ts";
import { ResultRelay } from "../src/resultRelay.ts";
import { isStalled } from "../src/stallWatch.ts";
import { PublishProbe, reportingConfirms } from "../src/publishProbe.ts";
import { BrokerHold } from "../src/brokerHold.ts";
import { isWildcardHost, OPEN_GATEWAY_WARNING } from "../src/openGateway.ts";
import { GroupCommit } from "../src/groupCommit.ts";
import { warningOfSlowFsyncs } from "../src/slowFsyncWarning.ts";
import { UploadPublisher } from "../src/uploadPublisher.ts";
import type { HeapGovernor } from "../src/heapGovernor.ts";
import { join } from "node:path";
import { lockStateDir } from "../src/stateDirLock.ts";
import { CoffeeMetrics } from "../src/metrics.ts";
import { openFileLimit, RESERVED_DESCRIPTORS, socketLimits, SPOOL_FILES_PER_SESSION } from "../src/openFileLimit.ts";
import { COMMON_PURGE_CAUSES, GATEWAY_STAGE, queryResultComplete, uploadOver, type Connection, type Session } from "../src/gatewaySession.ts";
import { GatewaySessions } from "../src/gatewaySessions.ts";
import { GatewayClients } from "../src/gatewayClients.ts";
import { BACKLOG_POLL_MS, describeSession, MAX_LISTED_SESSIONS, QUEUE_POLL_MS, startQueuePoller, type QueuePoller } from "../src/gatewayStatus.ts";
import { aggregatorOf, PIPELINE_QUEUES } from "../src/topology.ts";

/**
 * How long a starting gateway waits for another consumer of the results queue to go, for an AMQP
 * heartbeat of `heartbeatS`: the broker drops a peer that vanished without closing (a host lost)
 * after two missed heartbeats; three and 30 s of margin, and never under a minute.
 */
export function resultsWaitMs(heartbeatS: number): number {
  return Math.max(60_000, (3 * heartbeatS + 30) * 1000);
}

/** Gateway options, compiled. */
export interface GatewayConfig {
  host: string;
  port: number;
  maxSessions: number;
  maxFrameBytes: number;
  /** New client batches a session may have unacknowledged (resends after a resume do not count); more is a protocol violation. */
  maxInFlight: number;
  /**
   * Bytes of encoded batches the whole gateway holds until the broker confirms them, split evenly
   * among the sessions holding any; a session at its share is not read (TCP backpressure) until
   * it holds under half its current share. A soft bound: a session may pass its share by the
   * batches of the chunk being read.
   */
  maxInFlightBytes: number;
  /**
   * Ready messages in one pipeline queue at which no uploading session is read, until every one
   * holds under half of it (src/backlogGate.ts); 0: no bound.
   */
  maxBacklog: number;
  /** How often queue depths are read while a session uploads (the backlog's view); no option, tests shorten it. */
  backlogPollMs: number;
  /** How long to wait at start for another consumer of the results queue to go (see consumeResultsAlone); no option, tests shorten it. */
  resultsWaitMs: number;
  /** Result bytes queued in memory for one client; the rest waits in the result spool until it reads. */
  maxOutboxBytes: number;
  prefetch: number;
  /** How long a session whose client went away waits for it to resume before it is purged. */
  sessionTtlMs: number;
  /** A connection must say hello (or resume) within this long. */
  handshakeTimeoutMs: number;
  /** A client still uploading that sends nothing for this long, with no batch awaiting the broker's confirm, is dropped. */
  idleTimeoutMs: number;
  /** Interval of heartbeats to every client whose session is open, named in the welcome; stalls are looked for as often. */
  heartbeatMs: number;
  /** A session whose upload is over and which gets no result chunk for this long fails (PIPELINE_STALLED). */
  resultTimeoutMs: number;
  /** Connections at once that have not yet said hello (or resumed); one more is refused at once. */
  maxHandshakes: number;
  /** Most rows in one client batch. */
  maxBatchRows: number;
  /** Longest field (UTF-8 bytes) in a client batch. */
  maxFieldBytes: number;
  /** Shared secret clients must present (null: none required). */
  token: string | null;
  /** Directory of the session registry's write-ahead log; null keeps it in memory only. */
  stateDir: string | null;
}

/** A gateway instance; `listening` resolves with the bound port once clients can connect. */
export interface GatewayInstance extends RoleInstance {
  port(): number;
  listening: Promise<number>;
}

/** What a gateway runs with besides its options, its transport and its log. */
export interface GatewayRuntime {
  /** Where its work is counted. */
  metrics?: CoffeeMetrics;
  /** The process's heap governor, which counts every received frame. */
  governor?: HeapGovernor;
  /**
   * Told a failure of the log or the result spool (src/fatal.ts): the command's exits 70. The
   * gateway then halts (see halt() in createGateway) and its run() rejects with the failure.
   */
  onFatal?: OnFatal;
}

/** Create a gateway on a transport; it listens once run() is called. */
export async function createGateway(cfg: GatewayConfig, brokerTransport: Transport, log: Logger, runtime: GatewayRuntime = {}): Promise<GatewayInstance> {
  const { metrics = new CoffeeMetrics({ role: "gateway", name: "gateway" }), governor, onFatal = () => {} } = runtime;
  const probe = new PublishProbe(brokerTransport.probePublish?.bind(brokerTransport), () => brokerTransport.publishingBlocked?.() ?? false);
  // Every confirm of the gateway's own publishes tells the probe the broker takes them.
  const transport = reportingConfirms(brokerTransport, () => probe.confirmed());
  const store = await GatewayStore.open(cfg.stateDir, warningOfSlowFsyncs(metrics.onFsync, log));
  // readPauses: times a session reached its share of --max-in-flight-bytes and stopped being read.
  // backlogHolds: times a pipeline queue passed --max-backlog and every upload stopped being read.
  const counters = { sessionsStarted: 0, sessionsResumed: 0, sessionsFinished: 0, sessionsPurged: 0, rejectedFull: 0, refusedHandshakes: 0, rowsIn: 0, rowsRejected: 0, duplicateChunks: 0, readPauses: 0, backlogHolds: 0 };
  let server: TCPSocketListener<Connection> | null = null;
  let consumer: Consumer | null = null;
  /** Not listening yet: another consumer holds the results queue (see consumeResultsAlone). */
  let waitingForResults = false;
  let queues: QueuePoller | null = null;
  let heartbeats: ReturnType<typeof setInterval> | null = null;
  let shuttingDown: Promise<void> | null = null;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => (stop = r));
  let listened: (port: number) => void = () => {};
  let cannotListen: (err: unknown) => void = () => {};
  const listening = new Promise<number>((resolve, reject) => { listened = resolve; cannotListen = reject; });
  // Whoever awaits `listening` sees the failure; nobody awaiting it is not an unhandled error.
  listening.catch(() => {});
  /** The log or the result spool failed: what is durable is unknown, so the process stops and is revived. */
  const fatal = new FatalStop(onFatal, halt);
  const storageFailed = (err: unknown): void => fatal.fail(err);
  const group = new GroupCommit(() => store.commit(), storageFailed);

  const send = (conn: Connection | null, msg: GatewayMessage): void => {
    if (conn && !conn.closed) writeFrame(conn.writer, encodeProtocolTransient(msg));
  };
  // The connections are made last (they dispatch frames to the sessions and the upload), so
  // what is made before them reaches them through closures.
  const fail = (conn: Connection, err: unknown): void => connections.fail(conn, err);

  const sessions: GatewaySessions = new GatewaySessions({
    limits: cfg, store, group, transport, log, metrics, counters, send, fail, storageFailed,
    endConnection: (conn) => connections.endConnection(conn),
    armTimer: (conn) => connections.armTimer(conn),
    newPump: (id) => relay.newPump(id),
    sinkOf: (s, conn) => relay.sinkOf(s, conn),
    syncReading: (s) => upload.syncReading(s),
    stopping: () => shuttingDown !== null,
  });
  metrics.sessionsOpen.track(GATEWAY_STAGE, () => sessions.running.size);
  // Series that exist from the start: increase() over a counter born at 1 misses that first one.
  metrics.sessionsStarted.inc(GATEWAY_STAGE, 0);
  metrics.sessionsFinished.inc(GATEWAY_STAGE, 0);
  for (const cause of COMMON_PURGE_CAUSES) metrics.sessionsPurged.inc({ ...GATEWAY_STAGE, cause }, 0);
  const maybeFinish = (s: Session): void => sessions.maybeFinish(s);

  const upload = new UploadPublisher({
    limits: cfg, transport, metrics, counters, send, fail, maybeFinish,
    sessions: () => sessions.running.values(),
    pipelineQueues: PIPELINE_QUEUES,
    wantDepths: () => queues?.pollNow(),
    readAgain: (conn) => connections.armTimer(conn),
    warn: (m) => log.warn(m),
  });

  const relay = new ResultRelay({
    store, group, log, metrics, counters, idleTimeoutMs: cfg.idleTimeoutMs, send, fail, maybeFinish, storageFailed,
    sessionFailed: (s, err) => sessions.failed(s, err),
    running: (id) => sessions.running.get(id),
    allRunning: () => sessions.running.values(),
    known: (id) => sessions.known(id),
  });

  // Read again at each heartbeat (below): a limit changed while running (prlimit) holds from then on.
  const fileLimit = openFileLimit();
  const clientLimits = { ...cfg, ...socketLimits(fileLimit, cfg.maxSessions, cfg.maxHandshakes) };
  // What the options allow at once: every handshake, and each session's socket and spool files.
  const wanted = RESERVED_DESCRIPTORS + cfg.maxHandshakes + (1 + SPOOL_FILES_PER_SESSION) * cfg.maxSessions;
  if (fileLimit !== null && wanted > fileLimit) {
    log.warn(`the open-file limit (${fileLimit} descriptors) is below what --max-handshakes ${cfg.maxHandshakes} and --max-sessions ${cfg.maxSessions} may take at once (about ${wanted}): connections yet to say hello are capped at ${clientLimits.maxHandshakes}, and past ${clientLimits.maxSockets} client sockets new connections are closed unanswered. Raise the limit (the hard nofile limit: Bun raises the soft one to it) or lower those options`);
  }
  const connections = new GatewayClients({
    limits: clientLimits, log, counters, governor, sessions, upload, send, storageFailed,
    halted: () => fatal.failed,
  });

  sessions.recover();
  /**
   * Whether the broker took no publish for a heartbeat interval: then no stage can publish a
   * result either, so stall deadlines wait, and an uploading client's acks stop too. Probed only
   * while a session is open (or a hold is on): the probe costs a broker message, and nothing
   * needs it otherwise.
   */
  const hold = new BrokerHold(probe, cfg.heartbeatMs, log);

  /** Fail a session whose pipeline stored no result for --result-timeout-s (src/stallWatch.ts). */
  function watchStall(s: Session, now: number, brokerHeld: boolean): void {
    const chunks = store.chunks(s.id);
    if (!isStalled(s, chunks, now, cfg.resultTimeoutMs, brokerHeld)) return;
    // Named, so that an operator knows whose logs to read (and which queue may have been purged or deleted).
    const missing = QUERIES.filter((q) => !queryResultComplete(chunks, q));
    const stages = missing.map((q) => aggregatorOf(q).queue);
    sessions.failed(s, new CoffeeError("PIPELINE_STALLED", `no result for ${cfg.resultTimeoutMs / 1000} s after the upload ended; incomplete: ${missing.join(", ")} (a stage on the way to ${stages.join(", ")} lost this session's data or is stuck: see those logs); the session was dropped`));
  }

  /**
   * Tell every client whose session is open that it is: between its last eos-ack and its first
   * result (and between results) nothing else reaches it, and without a word it cannot tell a
   * pipeline still computing from a gateway that is gone (a dead host sends no FIN). Since the
   * client then waits as long as heartbeats come, the gateway is the one to give up on a stalled
   * pipeline.
   */
  function heartbeat(): void {
    Object.assign(clientLimits, socketLimits(openFileLimit(), cfg.maxSessions, cfg.maxHandshakes));
    const now = performance.now();
    const open = [...sessions.running.values()];
    // Once held, probed until the broker takes publishes again, so the status does not go stale.
    const held = (open.length > 0 || hold.held) && hold.tick(now);
    for (const s of open) watchStall(s, now, held);
    connections.heartbeat(held);
  }
  sessions.republishPurges();

  return {
    port: () => server?.port ?? cfg.port,
    listening,
    run: () => fatal.orFailure(serve()),
    shutdown() {
      // Once: a second call would commit to a closed log, which the group commit takes for a
      // storage failure (exit 70).
      // A storage failure meanwhile halts the gateway, which ends its shutdown too.
      shuttingDown ??= fatal.orHalt((async () => {
        stopServing();
        await consumer?.cancel();
        connections.endAll();
        sessions.stopTimers();
        await group.now();
        await store.shutdown();
        stop();
      })());
      return shuttingDown;
    },
    status: () => ({
      sessions: sessions.running.size, awaitingBye: sessions.finished.size, handshaking: connections.handshaking, port: server?.port ?? cfg.port, brokerHeld: hold.held, ...(waitingForResults ? { waitingForResults } : {}), ...counters,
      openSessions: [...sessions.running.values()].slice(0, MAX_LISTED_SESSIONS).map((s) => describeSession({
        id: s.id, connected: s.conn !== null, rowsAcked: s.rowsAcked, eosConfirmed: s.eosConfirmed, chunks: store.chunks(s.id), delivered: s.delivered, openedAtMs: s.openedAtMs, movedAtMs: s.movedAtMs, recovered: s.recovered,
      })),
      queues: queues?.latest() ?? null,
      backlog: upload.backlog(),
    }),
  };

  /** Consume results and listen until shut down. */
  async function serve(): Promise<void> {
    const notListening = (): void => cannotListen(new CoffeeError("INTERRUPTED", "the gateway was shut down before it listened"));
    // Shut down (or halted) before it ran: nothing starts, as nothing would stop it again.
    if (shuttingDown) return notListening();
    // Often while a session uploads (the backlog gate reads the depths), seldom otherwise (status only).
    queues = startQueuePoller(transport, QUEUE_POLL_MS, (m) => log.warn(m), () => upload.depthsPolled(queues?.latest() ?? null), {
      fastMs: cfg.backlogPollMs,
      fastWhile: () => [...sessions.running.values()].some((s) => !uploadOver(s)),
      onPollStart: () => upload.depthsPollStarting(),
    });
    try {
      consumer = await consumeResultsAlone();
    } catch (err) {
      stopServing();
      cannotListen(err);
      throw err;
    }
    // Shut down while the broker was slow to answer (or while another gateway held the results): nothing may start listening now.
    if (shuttingDown) {
      stopServing();
      await consumer?.cancel();
      return notListening();
    }
    const listen = (): TCPSocketListener<Connection> => Bun.listen<Connection>({
      hostname: cfg.host,
      port: cfg.port,
      socket: {
        open: (socket) => connections.accept(socket),
        data: (socket, data) => connections.received(socket, data),
        drain: (socket) => connections.drained(socket),
        close: (socket) => connections.socketClosed(socket),
        error(socket, err) {
          log.warn(`socket error: ${err.message}`);
        },
      },
    });
    try {
      server = listen();
    } catch (err) {
      const failure = new ConfigError(`--port ${cfg.port}: cannot listen on ${cfg.host}:${cfg.port} (${errorMessage(err)}; is another process using it?)`);
      cannotListen(failure);
      // Let go of the results: a gateway that never listens must not keep another from serving.
      stopServing();
      await consumer?.cancel().catch(() => {});
      throw failure;
    }
    log.info(`gateway listening on ${cfg.host}:${server.port} (max ${cfg.maxSessions} sessions)`);
    if (cfg.token === null && isWildcardHost(cfg.host)) log.warn(OPEN_GATEWAY_WARNING);
    sessions.awaitClients();
    heartbeats = setInterval(heartbeat, cfg.heartbeatMs);
    listened(server.port);
    await stopped;
  }

  /**
   * Consume the results queue as its only consumer: a second gateway in the namespace would take
   * result chunks of this one's sessions, ack them and drop them as unknown. While another holds
   * it, tried again for cfg.resultsWaitMs (resultsWaitMs: three broker heartbeats plus 30 s, at
   * least a minute): a revived gateway's old copy, on a host cut off, keeps its broker connection
   * until the broker's heartbeat ends it. Then QUEUE_IN_USE (exit 2). Null if shut down while waiting.
   */
  async function consumeResultsAlone(): Promise<Consumer | null> {
    const deadline = performance.now() + cfg.resultsWaitMs;
    waitingForResults = true;
    try {
      return await askForResults(deadline);
    } finally {
      waitingForResults = false;
    }
  }

  /** consumeResultsAlone's tries, until `deadline`. */
  async function askForResults(deadline: number): Promise<Consumer | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await transport.consume("results", { prefetch: cfg.prefetch, concurrent: false, exclusive: true }, (d) => relay.deliver(d));
      } catch (err) {
        if (!hasCode(err, "QUEUE_IN_USE")) throw err;
        if (shuttingDown) return null;
        if (performance.now() >= deadline) {
          throw new CoffeeError("QUEUE_IN_USE", `another gateway consumes this namespace's results, and did not let go within ${cfg.resultsWaitMs / 1000} s: one gateway per --namespace; stop the other, or give this one its own --namespace (${err.message})`);
        }
        if (attempt === 0) log.warn(`another gateway consumes this namespace's results (one gateway per --namespace; an old copy of this one whose broker connection lingers?); waiting up to ${cfg.resultsWaitMs / 1000} s for it to let go before listening`);
        // Polled: the broker tells nobody when a consumer goes.
        await Bun.sleep(jitteredBackoffMs(attempt, 250, 2000));
      }
    }
  }

  /** Take no more connections, send no more heartbeats, poll no more queue depths (shutdown and halt alike). */
  function stopServing(): void {
    server?.stop(true);
    if (heartbeats) clearInterval(heartbeats);
    queues?.stop();
  }

  /**
   * Stop after a storage failure, in-process, as the process would have by exiting: nothing more
   * is committed, acked or sent. Listening stops, every connection is cut (its client resumes once
   * a gateway is back), the results consumer is cancelled (the chunks it had not acked stay
   * unacked, and return to the queue once the caller closes the transport, as when a process
   * exits), the heartbeat and the sessions' TTL timers stop (others, such as a refused
   * connection's linger, run out on closed connections), and the log and the spool are let go.
   * run() rejects with the failure; shutdown() has nothing left to do.
   */
  function halt(err: unknown): void {
    group.stop();
    shuttingDown ??= Promise.resolve();
    cannotListen(err);
    // Cut before the listener stops: its close handlers then find every connection closed, and
    // detach or purge no session through a log that takes nothing more.
    connections.cutAll();
    stopServing();
    sessions.stopTimers();
    void consumer?.cancel().catch(() => {});
    void store.abandon();
  }
}

/** The gateway's own options; every role's (broker, health, metrics, ...) follow in OPTIONS. */
const OWN_OPTIONS: readonly OptionSpec[] = [
  { name: "port", type: "int", env: "GATEWAY_PORT", default: 9000, min: 0, max: 65535, help: "TCP port clients connect to" },
  { name: "host", type: "string", env: "GATEWAY_HOST", default: "0.0.0.0", help: "address to listen on (coffee up uses 127.0.0.1 unless its own --host says otherwise)" },
  { name: "max-sessions", type: "int", env: "COFFEE_MAX_SESSIONS", default: 5, min: 1, max: 10000, help: "concurrent client sessions; one more gets 'server full' (a finished session waiting for its client's bye holds no slot, and a resume is never refused for the limit)" },
  { name: "max-frame-bytes", type: "int", env: "COFFEE_MAX_FRAME_BYTES", default: 16 * 1024 * 1024, min: 1024, max: 16 * 1024 * 1024, help: "largest frame a client may send once it has a session (at most 16 MiB: a batch goes on as one broker message, and the broker takes none larger); before its hello, 8 KiB" },
  { name: "max-in-flight", type: "int", env: "COFFEE_MAX_IN_FLIGHT", default: 64, min: 1, max: 10000, help: "unacknowledged batches per client session (batches sent again after a resume do not count)" },
  { name: "max-in-flight-bytes", type: "int", env: "COFFEE_MAX_IN_FLIGHT_BYTES", default: 8 * 1024 * 1024, min: 1024 * 1024, max: 2 ** 31 - 1, help: "bytes of encoded batches the gateway holds until the broker confirms them, split evenly among the sessions holding any; a session at its share is not read until it holds under half of its share" },
  { name: "max-backlog", type: "int", env: "COFFEE_MAX_BACKLOG", default: 32, min: 0, max: 1_000_000, help: "ready messages in one pipeline queue (as last polled, plus the gateway's publishes since) past which the gateway stops reading every uploading client that published since, until each queue is down to half of it (each other one is read until it has published: a batch, or what one read holds): a session started later waits behind about this many batches per queue, not behind everything uploaded before it, and the broker's queues stay bounded (0: no bound; queues nobody consumes are not counted)" },
  { name: "max-outbox-bytes", type: "int", env: "COFFEE_MAX_OUTBOX_BYTES", default: 1024 * 1024, min: 65536, max: 2 ** 31 - 1, help: "result bytes queued in memory for one client; the rest waits in the result spool on disk until the client reads (a client that reads nothing for --idle-timeout-s is dropped)" },
  { name: "prefetch", type: "int", env: "COFFEE_PREFETCH", default: 8, min: 1, max: 10000, help: "result chunks in flight from the broker (each up to about the aggregators' --chunk-bytes)" },
  { name: "handshake-timeout-ms", type: "int", env: "COFFEE_HANDSHAKE_TIMEOUT_MS", default: 10_000, min: 100, max: 600_000, help: "a connection must say hello within this long (closed with HANDSHAKE_TIMEOUT, which the log says at most once a minute, with a count: port scanners come in numbers)" },
  { name: "heartbeat-ms", type: "int", env: "COFFEE_CLIENT_HEARTBEAT_MS", default: 10_000, min: 100, max: MAX_HEARTBEAT_MS, help: "interval of heartbeats to each client whose session is open, so that while the pipeline computes its client can tell a slow session from a lost gateway (a client waits at least three intervals before it reconnects)" },
  { name: "result-timeout-s", type: "int", env: "COFFEE_RESULT_TIMEOUT_S", default: 600, min: 1, max: 604_800, help: "a session whose upload is over and which gets no result chunk for this long fails with PIPELINE_STALLED (looked at every --heartbeat-ms, so up to two intervals later): its client is told and the aggregators drop it; a session with every result stored never stalls, and the deadline waits while the broker confirms no publish (a resource alarm, quorum queues without their majority, or the broker unreachable)" },
  { name: "idle-timeout-s", type: "int", env: "COFFEE_CLIENT_IDLE_S", default: 120, min: 1, max: 86_400, help: "a client that sends nothing this long while its upload is incomplete (and it is not waiting on the broker's confirms), reads none of its waiting results this long, or has not said bye this long after done, is dropped" },
  { name: "max-handshakes", type: "int", env: "COFFEE_MAX_HANDSHAKES", default: 256, min: 1, max: 65_536, help: "connections at once that have not yet said hello (or resumed); one more is refused at once with CONNECTION_LIMIT (each holds a socket and up to 8 KiB until its hello or --handshake-timeout-ms)" },
  { name: "max-batch-rows", type: "int", env: "COFFEE_MAX_BATCH_ROWS", default: 100_000, min: 1, max: 10_000_000, help: "most rows in one client batch" },
  { name: "max-field-bytes", type: "int", env: "COFFEE_MAX_FIELD_BYTES", default: MAX_FIELD_BYTES, min: 16, max: 4 * 1024 * 1024, help: "longest field in a client row, in UTF-8 bytes; a row with a longer one is rejected and reported to its client, like a malformed row" },
  { name: "token", type: "string", env: "COFFEE_TOKEN", secret: true, help: "shared secret clients must present (file: first line)" },
  { name: "session-ttl-s", type: "int", env: "COFFEE_SESSION_TTL_S", default: 60, min: 1, max: 604_800, help: "a session whose client is gone this long is purged everywhere (a finished one that never got its client's bye: its stored results are deleted)" },
  { name: "state-dir", type: "string", env: "COFFEE_STATE_DIR", default: "./state", help: "the session registry's write-ahead log and result spool go to STATE-DIR/<name>/" },
];

const OPTIONS: readonly OptionSpec[] = [...OWN_OPTIONS, ...COMMON_OPTIONS];

/** Compile parsed gateway options. */
export function gatewayConfig(values: OptionValues): GatewayConfig {
  return {
    host: str(values, "host"),
    port: int(values, "port"),
    maxSessions: int(values, "max-sessions"),
    maxFrameBytes: int(values, "max-frame-bytes"),
    maxInFlight: int(values, "max-in-flight"),
    maxInFlightBytes: int(values, "max-in-flight-bytes"),
    maxBacklog: int(values, "max-backlog"),
    backlogPollMs: BACKLOG_POLL_MS,
    resultsWaitMs: resultsWaitMs(DEFAULT_HEARTBEAT_S),
    maxOutboxBytes: int(values, "max-outbox-bytes"),
    prefetch: int(values, "prefetch"),
    sessionTtlMs: int(values, "session-ttl-s") * 1000,
    handshakeTimeoutMs: int(values, "handshake-timeout-ms"),
    idleTimeoutMs: int(values, "idle-timeout-s") * 1000,
    heartbeatMs: int(values, "heartbeat-ms"),
    resultTimeoutMs: int(values, "result-timeout-s") * 1000,
    maxHandshakes: int(values, "max-handshakes"),
    maxBatchRows: int(values, "max-batch-rows"),
    maxFieldBytes: int(values, "max-field-bytes"),
    token: optStr(values, "token") ?? null,
    stateDir: null,
  };
}

/** The gateway's defaults (as `--help` documents them), for in-process clusters. */
export function defaultGatewayConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return envGatewayConfig({}, overrides);
}

/**
 * The gateway's own options as a gateway process reads them from `env` (COFFEE_TOKEN and its
 * _FILE included), then `overrides`: for a gateway coffee up runs in its own process, which must
 * honour what a child gateway would. Every role's options (health and metrics ports, the broker)
 * are not read: coffee up sets those for each child itself.
 */
export function envGatewayConfig(env: Record<string, string | undefined>, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  // A variable whose option a flag overrides is not read, so it cannot refuse the configuration.
  const overridden = new Set(Object.keys(overrides).map((key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)));
  const read = { ...env };
  for (const o of OWN_OPTIONS) if (o.env !== undefined && overridden.has(o.name)) delete read[o.env];
  return { ...gatewayConfig(parseOptions(OWN_OPTIONS, [], read)), ...overrides };
}

/** `coffee --role gateway`. */
export const gatewayCommand: Command = {
  name: "gateway",
  usage: "coffee --role gateway [options]",
  description: "Accepts client sessions over TCP, publishes their rows to the broker, relays results back.",
  options: OPTIONS,
  async run(values) {
    const common = commonConfig(values, "gateway");
    const log = createLogger(common.name);
    // The wait for another gateway's results consumer follows the heartbeat its broker URL asks for.
    const cfg = { ...gatewayConfig(values), stateDir: join(str(values, "state-dir"), common.name), resultsWaitMs: resultsWaitMs(heartbeatSecondsOf(common.broker.url)) };
    // Before the broker: a gateway that cannot listen would otherwise declare the namespace's
    // queues and exchange first, and leave them behind.
    if (cfg.port !== 0 && !tcpPortFree(cfg.port, cfg.host)) throw new ConfigError(`--port ${cfg.port}: cannot listen on ${cfg.host}:${cfg.port} (in use, or not an address of this machine)`);
    // Before anything reads the log: a second gateway on it would corrupt it.
    const lock = lockStateDir(cfg.stateDir);
    if (!lock.locked) log.warn(`state directory ${cfg.stateDir} is not locked against a second process: ${lock.unlockedBecause}`);
    try {
      return await runRoleProcess("gateway", common, log, (t, metrics, governor) =>
        createGateway(cfg, t, log, { metrics, governor, onFatal: exitOnFatal(log, "write-ahead log or result spool") }));
    } finally {
      lock.release();
    }
  },
};
