/**
 * Gateway role: the clients' TCP entry point. Gives each client a session (UUID), validates and
 * types its rows, publishes them with confirms and acks each client batch only once the broker
 * confirmed it; relays each session's result chunks to that session's connection only.
 */
import type { TCPSocketListener } from "bun";
import type { Command } from "../src/command.ts";
import { CoffeeError, ConfigError, ProtocolError, errorMessage, isWalWriteFailure } from "../src/errors.ts";
import { exitOnFatal, FatalStop, type OnFatal } from "../src/fatal.ts";
import { tcpPortFree } from "../src/ports.ts";
import { FrameDecoder, writeFrame } from "../src/frame.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { int, optStr, parseOptions, str, type OptionSpec, type OptionValues } from "../src/options.ts";
import { decodeClientMessage, encodeProtocolTransient, MAX_HEARTBEAT_MS, type ClientMessage, type GatewayMessage } from "../src/protocol.ts";
import { COMMON_OPTIONS, commonConfig, runRoleProcess, type RoleInstance } from "../src/roleRuntime.ts";
import { MAX_FIELD_BYTES } from "../src/schema.ts";
import { SocketWriter } from "../src/socketWriter.ts";
import type { Consumer, Transport } from "../src/transport.ts";
import { GatewayStore } from "../src/gatewayStore.ts";
import { ResultRelay } from "../src/resultRelay.ts";
import { isStalled } from "../src/stallWatch.ts";
import { PublishProbe, reportingConfirms } from "../src/publishProbe.ts";
import { BrokerHold } from "../src/brokerHold.ts";
import { isWildcardHost, OPEN_GATEWAY_WARNING } from "../src/openGateway.ts";
import { GroupCommit } from "../src/groupCommit.ts";
import { UploadPublisher } from "../src/uploadPublisher.ts";
import type { HeapGovernor } from "../src/heapGovernor.ts";
import { join } from "node:path";
import { lockStateDir } from "../src/stateDirLock.ts";
import { CoffeeMetrics } from "../src/metrics.ts";
import { GATEWAY_STAGE, uploadOver, type Connection, type Session } from "../src/gatewaySession.ts";
import { GatewaySessions } from "../src/gatewaySessions.ts";
import { checkProtocolVersion, checkToken } from "../src/handshake.ts";
import { describeSession, MAX_LISTED_SESSIONS, QUEUE_POLL_MS, startQueuePoller, type QueuePoller } from "../src/gatewayStatus.ts";

/**
 * Largest frame before a connection has a session, whatever --max-frame-bytes says: a hello or
 * resume is at most about 3.2 KiB (a token is at most 1024 characters, up to 3 bytes each in
 * UTF-8). Each connection buffers one partial frame, so without this an unauthenticated
 * connection could hold --max-frame-bytes (16 MiB) for the handshake timeout, and a few hundred
 * of them gigabytes.
 */
export const HANDSHAKE_FRAME_BYTES = 8 * 1024;

/** How often connections refused for --max-handshakes are logged while they go on. */
const REFUSAL_LOG_MS = 60_000;

/** How long a refused connection is left for its client to hang up (see refuseConnection). */
const REFUSED_LINGER_MS = 1_000;

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
  maxFieldChars: number;
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
  const probe = new PublishProbe(brokerTransport.probePublish?.bind(brokerTransport));
  // Every confirm of the gateway's own publishes tells the probe the broker takes them.
  const transport = reportingConfirms(brokerTransport, () => probe.confirmed());
  const store = await GatewayStore.open(cfg.stateDir, metrics.onFsync);
  const connections = new Set<Connection>();
  /** Connections in `connections` without a session yet (bounded by --max-handshakes). */
  let handshaking = 0;
  /** When refused connections were last logged: a flood of them is said once a minute, not once each. */
  let refusalToldMs = -Infinity;
  // readPauses: times a session reached its share of --max-in-flight-bytes and stopped being read.
  const counters = { sessionsStarted: 0, sessionsResumed: 0, sessionsFinished: 0, sessionsPurged: 0, rejectedFull: 0, refusedHandshakes: 0, rowsIn: 0, rowsRejected: 0, duplicateChunks: 0, readPauses: 0 };
  let server: TCPSocketListener<Connection> | null = null;
  let consumer: Consumer | null = null;
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

  /**
   * Stop after a storage failure, in-process, as the process would have by exiting: nothing more
   * is committed, acked or sent. Listening stops, every connection is cut (its client resumes once
   * a gateway is back), the results consumer is cancelled (the chunks it had not acked stay
   * unacked, and return to the queue once the caller closes the transport, as when a process
   * exits), the heartbeat and the sessions' TTL timers stop (others, such as a refused
   * connection's linger, run out on closed connections), and the log and the spool are let go. run() rejects with the failure;
   * shutdown() has nothing left to do.
   */
  function halt(err: unknown): void {
    group.stop();
    shuttingDown ??= Promise.resolve();
    cannotListen(err);
    if (heartbeats) clearInterval(heartbeats);
    queues?.stop();
    for (const c of connections) {
      c.closed = true;
      if (c.timer) clearTimeout(c.timer);
      c.writer.abort();
    }
    connections.clear();
    sessions.stopTimers();
    server?.stop(true);
    void consumer?.cancel().catch(() => {});
    void store.abandon();
  }

  const send = (conn: Connection | null, msg: GatewayMessage): void => {
    if (conn && !conn.closed) writeFrame(conn.writer, encodeProtocolTransient(msg));
  };

  const fail = (conn: Connection, err: unknown): void => {
    // The log could not take a record: this gateway can no longer promise anything to anyone.
    if (isWalWriteFailure(err)) return storageFailed(err);
    // Halted: a publish settling now has nobody left to tell, and the log takes nothing more.
    if (fatal.failed) return;
    // Anything not raised on purpose is our fault, not the client's: said so, with the stack in our log.
    const code = err instanceof CoffeeError ? err.code : "INTERNAL";
    if (code === "INTERNAL") log.error(`internal error on a client connection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    log.warn(`closing connection${conn.session ? ` of session ${conn.session.id}` : ""}: ${code} ${errorMessage(err)}`);
    send(conn, { t: "error", code, message: errorMessage(err) });
    // A client dropped for reading nothing would not read the error either: cut off at once.
    if (code === "CLIENT_TOO_SLOW") conn.writer.abort();
    else void conn.writer.end(cfg.idleTimeoutMs);
    // A protocol error is final for the session: its client will not resume it. Purged before
    // the connection ends, which would otherwise purge it for leaving, under the wrong reason.
    const s = conn.session;
    if (s && !s.done) sessions.purge(s, `${code}: ${errorMessage(err)}`);
    endConnection(conn);
  };

  const sessions: GatewaySessions = new GatewaySessions({
    limits: cfg, store, group, transport, log, metrics, counters, send, fail, endConnection, armTimer, storageFailed,
    newPump: (id) => relay.newPump(id),
    sinkOf: (s, conn) => relay.sinkOf(s, conn),
    isPaused: (s) => upload.isPaused(s),
    stopping: () => shuttingDown !== null,
  });
  metrics.sessionsOpen.track(GATEWAY_STAGE, () => sessions.running.size);
  const maybeFinish = (s: Session): void => sessions.maybeFinish(s);

  const upload = new UploadPublisher({ limits: cfg, transport, metrics, counters, send, fail, maybeFinish });

  const relay = new ResultRelay({
    store, group, log, metrics, counters, idleTimeoutMs: cfg.idleTimeoutMs, send, fail, maybeFinish, storageFailed,
    sessionFailed: (s, err) => sessions.failed(s, err),
    running: (id) => sessions.running.get(id),
    known: (id) => sessions.running.get(id) ?? sessions.finished.get(id),
  });

  /**
   * Turn away a connection over --max-handshakes: each one still to say hello holds a socket and
   * a buffer, and without a bound a flood of them exhausts the process's descriptors.
   */
  function refuseConnection(conn: Connection): void {
    conn.closed = true;
    counters.refusedHandshakes++;
    const now = performance.now();
    if (now - refusalToldMs >= REFUSAL_LOG_MS) {
      refusalToldMs = now;
      log.warn(`refusing new connections: ${handshaking} have yet to say hello (--max-handshakes ${cfg.maxHandshakes}); ${counters.refusedHandshakes} refused so far`);
    }
    writeFrame(conn.writer, encodeProtocolTransient({ t: "error", code: "CONNECTION_LIMIT", message: `gateway busy: ${handshaking} connections have yet to say hello (its --max-handshakes); try again later` }));
    // The client hangs up on reading it. Closing first, with its hello unread, would reset the
    // connection before the error arrived; a client that does not hang up is closed after a while.
    conn.timer = setTimeout(() => void conn.writer.end(REFUSED_LINGER_MS), REFUSED_LINGER_MS);
  }

  /** (Re)arm the connection's deadline: handshake first, then idleness while it still owes data. */
  function armTimer(conn: Connection): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    if (conn.closed) return;
    const s = conn.session;
    if (!s) {
      conn.timer = setTimeout(() => fail(conn, new CoffeeError("HANDSHAKE_TIMEOUT", `no hello within ${cfg.handshakeTimeoutMs} ms`)), cfg.handshakeTimeoutMs);
    } else if (s.done) {
      // `done` is out: the client says bye once its files are committed. One that never does is
      // let go (its results stay for a resume until the TTL).
      conn.timer = setTimeout(() => void conn.writer.end(cfg.idleTimeoutMs), cfg.idleTimeoutMs);
    } else if (!uploadOver(s)) {
      // A client we stopped reading is not idle: look again later.
      // Nor is one waiting for acks of batches the broker has yet to confirm (its window is full).
      conn.timer = setTimeout(() => (upload.isPaused(s) || s.inFlight > 0 ? armTimer(conn) : fail(conn, new CoffeeError("CLIENT_IDLE", `nothing received for ${cfg.idleTimeoutMs / 1000} s while the upload was incomplete`))), cfg.idleTimeoutMs);
    }
  }

  function endConnection(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    if (!conn.session) handshaking--;
    if (conn.timer) clearTimeout(conn.timer);
    connections.delete(conn);
    const s = conn.session;
    // A session purged or retired already (a protocol error, a bye) has nothing left to keep.
    if (!s || s.conn !== conn || !sessions.holds(s)) return;
    if (!s.done && !s.welcomed) {
      // Its client never learned the id, so it cannot resume: free the --max-sessions slot now.
      sessions.purge(s, "client left before its welcome");
    } else {
      log.info(`session ${s.id}: client disconnected${s.done ? " after done without a bye" : ""}; keeping it ${cfg.sessionTtlMs / 1000} s for a resume`);
      sessions.detach(s);
    }
  }

  function hello(conn: Connection, msg: ClientMessage): void {
    if (msg.t !== "hello" && msg.t !== "resume") throw new ProtocolError(`expected hello or resume, got ${msg.t}`);
    checkProtocolVersion(msg.v);
    checkToken(cfg.token, msg.token);
    if (msg.t === "resume") sessions.resume(conn, msg);
    else sessions.start(conn);
  }

  function onFrame(conn: Connection, frame: Uint8Array): void {
    // What clients send is most of the gateway's garbage (read chunks, columns, typed rows), far
    // more than it publishes: counted here, collections come before it piles up.
    governor?.check(frame.length);
    const msg = decodeClientMessage(frame);
    if (!conn.session) {
      try {
        hello(conn, msg);
      } finally {
        // Counted once it has a session, even if the rest of a resume failed (then it ends too).
        if (conn.session) handshaking--;
      }
      // Batch-sized frames only from a connection with a session (token checked, slot taken).
      conn.decoder.maxFrameBytes = cfg.maxFrameBytes;
      return armTimer(conn);
    }
    armTimer(conn);
    if (msg.t === "batch") upload.batch(conn.session, msg);
    else if (msg.t === "eos") upload.eos(conn.session, msg);
    else if (msg.t === "resent") {
      if (!conn.session.awaitingResend) throw new ProtocolError("resent without a resume to end");
      conn.session.awaitingResend = false;
      sessions.maybeFinish(conn.session);
    } else if (msg.t === "bye") {
      if (!conn.session.done) throw new ProtocolError("bye before done");
      sessions.retire(conn.session, "its client has the results");
      void conn.writer.end(cfg.idleTimeoutMs);
    } else if (msg.t === "abort") {
      const s = conn.session;
      if (s.done) sessions.retire(s, "its client gave it up");
      else sessions.purge(s, "its client gave it up");
      void conn.writer.end(cfg.idleTimeoutMs);
    }
    else throw new ProtocolError(`unexpected ${msg.t} during a session`);
  }

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
    if (!isStalled(s, store.chunks(s.id), now, cfg.resultTimeoutMs, brokerHeld)) return;
    sessions.failed(s, new CoffeeError("PIPELINE_STALLED", `no result for ${cfg.resultTimeoutMs / 1000} s after the upload ended (a stage lost this session's data or is stuck); the session was dropped`));
  }

  /**
   * Tell every client whose session is open that it is: between its last eos-ack and its first
   * result (and between results) nothing else reaches it, and without a word it cannot tell a
   * pipeline still computing from a gateway that is gone (a dead host sends no FIN). Since the
   * client then waits as long as heartbeats come, the gateway is the one to give up on a stalled
   * pipeline.
   */
  function heartbeat(): void {
    const now = performance.now();
    const open = [...sessions.running.values()];
    // Once held, probed until the broker takes publishes again, so the status does not go stale.
    const held = (open.length > 0 || hold.held) && hold.tick(now);
    for (const s of open) watchStall(s, now, held);
    for (const conn of connections) {
      const s = conn.session;
      if (s && s.conn === conn && s.welcomed && !s.done) send(conn, held ? { t: "heartbeat", brokerHeld: true } : { t: "heartbeat" });
    }
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
        server?.stop(true);
        if (heartbeats) clearInterval(heartbeats);
        queues?.stop();
        await consumer?.cancel();
        for (const c of connections) endConnection(c);
        sessions.stopTimers();
        await group.now();
        await store.shutdown();
        stop();
      })());
      return shuttingDown;
    },
    status: () => ({
      sessions: sessions.running.size, awaitingBye: sessions.finished.size, handshaking, port: server?.port ?? cfg.port, brokerHeld: hold.held, ...counters,
      openSessions: [...sessions.running.values()].slice(0, MAX_LISTED_SESSIONS).map((s) => describeSession({
        id: s.id, connected: s.conn !== null, rowsAcked: s.rowsAcked, eosConfirmed: s.eosConfirmed, chunks: store.chunks(s.id), delivered: s.delivered,
      })),
      queues: queues?.latest() ?? null,
    }),
  };

  /** Consume results and listen until shut down. */
  async function serve(): Promise<void> {
    const notListening = (): void => cannotListen(new CoffeeError("INTERRUPTED", "the gateway was shut down before it listened"));
    // Shut down (or halted) before it ran: nothing starts, as nothing would stop it again.
    if (shuttingDown) return notListening();
    queues = startQueuePoller(transport, QUEUE_POLL_MS, (m) => log.warn(m));
    consumer = await transport.consume("results", { prefetch: cfg.prefetch, concurrent: false }, (d) => relay.deliver(d));
    // Shut down while the broker was slow to answer: nothing may start listening now.
    if (shuttingDown) {
      queues.stop();
      await consumer.cancel();
      return notListening();
    }
    const listen = (): TCPSocketListener<Connection> => Bun.listen<Connection>({
      hostname: cfg.host,
      port: cfg.port,
      socket: {
        open(socket) {
          const conn: Connection = { socket, decoder: new FrameDecoder(HANDSHAKE_FRAME_BYTES), writer: new SocketWriter(socket, cfg.maxOutboxBytes), session: null, closed: false, timer: null };
          socket.data = conn;
          if (handshaking >= cfg.maxHandshakes) return refuseConnection(conn);
          handshaking++;
          connections.add(conn);
          armTimer(conn);
        },
        data(socket, data) {
          const conn = socket.data;
          if (conn.closed) return;
          try {
            for (const frame of conn.decoder.push(data)) {
              if (conn.closed) return;
              onFrame(conn, frame);
            }
          } catch (err) {
            fail(conn, err);
          }
        },
        drain(socket) {
          socket.data.writer.drain();
        },
        close(socket) {
          const conn = socket.data;
          conn.writer.close();
          // A refused connection (closed already, never in `connections`) has its linger timer.
          if (conn.closed && conn.timer) clearTimeout(conn.timer);
          endConnection(conn);
        },
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
      throw failure;
    }
    log.info(`gateway listening on ${cfg.host}:${server.port} (max ${cfg.maxSessions} sessions)`);
    if (cfg.token === null && isWildcardHost(cfg.host)) log.warn(OPEN_GATEWAY_WARNING);
    sessions.awaitClients();
    heartbeats = setInterval(heartbeat, cfg.heartbeatMs);
    listened(server.port);
    await stopped;
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
  { name: "max-outbox-bytes", type: "int", env: "COFFEE_MAX_OUTBOX_BYTES", default: 1024 * 1024, min: 65536, max: 2 ** 31 - 1, help: "result bytes queued in memory for one client; the rest waits in the result spool on disk until the client reads (a client that reads nothing for --idle-timeout-s is dropped)" },
  { name: "prefetch", type: "int", env: "COFFEE_PREFETCH", default: 8, min: 1, max: 10000, help: "result chunks in flight from the broker (each up to the aggregators' --chunk-bytes characters)" },
  { name: "handshake-timeout-ms", type: "int", env: "COFFEE_HANDSHAKE_TIMEOUT_MS", default: 10_000, min: 100, max: 600_000, help: "a connection must say hello within this long" },
  { name: "heartbeat-ms", type: "int", env: "COFFEE_CLIENT_HEARTBEAT_MS", default: 10_000, min: 100, max: MAX_HEARTBEAT_MS, help: "interval of heartbeats to each client whose session is open, so that while the pipeline computes its client can tell a slow session from a lost gateway (a client waits at least three intervals before it reconnects)" },
  { name: "result-timeout-s", type: "int", env: "COFFEE_RESULT_TIMEOUT_S", default: 600, min: 1, max: 604_800, help: "a session whose upload is over and which gets no result chunk for this long fails with PIPELINE_STALLED (looked at every --heartbeat-ms, so up to two intervals later): its client is told and the aggregators drop it; a session with every result stored never stalls, and the deadline waits while the broker confirms no publish (a resource alarm, quorum queues without their majority, or the broker unreachable)" },
  { name: "idle-timeout-s", type: "int", env: "COFFEE_CLIENT_IDLE_S", default: 120, min: 1, max: 86_400, help: "a client that sends nothing this long while its upload is incomplete (and it is not waiting on the broker's confirms), reads none of its waiting results this long, or has not said bye this long after done, is dropped" },
  { name: "max-handshakes", type: "int", env: "COFFEE_MAX_HANDSHAKES", default: 256, min: 1, max: 65_536, help: "connections at once that have not yet said hello (or resumed); one more is refused at once with CONNECTION_LIMIT (each holds a socket and up to 8 KiB until its hello or --handshake-timeout-ms)" },
  { name: "max-batch-rows", type: "int", env: "COFFEE_MAX_BATCH_ROWS", default: 100_000, min: 1, max: 10_000_000, help: "most rows in one client batch" },
  { name: "max-field-chars", type: "int", env: "COFFEE_MAX_FIELD_CHARS", default: MAX_FIELD_BYTES, min: 16, max: 4 * 1024 * 1024, help: "longest field in a client row, in UTF-8 bytes; a row with a longer one is rejected and reported to its client, like a malformed row" },
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
    maxOutboxBytes: int(values, "max-outbox-bytes"),
    prefetch: int(values, "prefetch"),
    sessionTtlMs: int(values, "session-ttl-s") * 1000,
    handshakeTimeoutMs: int(values, "handshake-timeout-ms"),
    idleTimeoutMs: int(values, "idle-timeout-s") * 1000,
    heartbeatMs: int(values, "heartbeat-ms"),
    resultTimeoutMs: int(values, "result-timeout-s") * 1000,
    maxHandshakes: int(values, "max-handshakes"),
    maxBatchRows: int(values, "max-batch-rows"),
    maxFieldChars: int(values, "max-field-chars"),
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
  return { ...gatewayConfig(parseOptions(OWN_OPTIONS, [], env)), ...overrides };
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
    const cfg = { ...gatewayConfig(values), stateDir: join(str(values, "state-dir"), common.name) };
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
