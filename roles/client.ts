/**
 * Client role: streams a dataset folder to the gateway and writes the four result files.
 * The upload and its window are src/clientUpload.ts; reconnects and their retry budget
 * src/clientReconnect.ts; the watch on a silent gateway src/idleWatch.ts; the progress counters
 * src/clientProgress.ts; the results folder src/outDir.ts. Here: options, the checks before a
 * session, the wait for a free slot, and the gateway's messages.
 */
import { constants as osConstants } from "node:os";
import type { Command } from "../src/command.ts";
import { Reconnect } from "../src/clientReconnect.ts";
import { IdleWatch } from "../src/idleWatch.ts";
import { ClientUpload, uploadDataset } from "../src/clientUpload.ts";
import { ClientProgress } from "../src/clientProgress.ts";
import { CoffeeError, ConfigError, DecodeError, codedMessage, exitCodeOf, hasCode } from "../src/errors.ts";
import { isConnectablePort, splitHostPort } from "../src/hostPort.ts";
import { GatewayConnection } from "../src/gatewayConnection.ts";
import { HEALTH_HOST_OPTION, startHealthServer } from "../src/health.ts";
import { HEAP_LIMIT_OPTION, startHeapGovernor } from "../src/heapGovernor.ts";
import { bool, int, optStr, parseOptions, str, type OptionSpec, type OptionValues } from "../src/options.ts";
import { Progress } from "../src/progress.ts";
import { LogLines, renderFrame, renderSummary, stamp, type ProgressView } from "../src/progressBars.ts";
import { PROTOCOL_VERSION, type GatewayMessage } from "../src/protocol.ts";
import { RejectReport, rejectReportLines } from "../src/rejectReport.ts";
import { startedIgnoring } from "../src/ignoredSignal.ts";
import { ResultFiles } from "../src/resultFiles.ts";
import { removeAbandonedResults } from "../src/abandonedResults.ts";
import { validateDataset } from "../src/datasetCheck.ts";
import { prepareOutDir } from "../src/outDir.ts";
import type { Entity } from "../src/schema.ts";

/** Client options, compiled. */
export interface ClientConfig {
  dataDir: string;
  outDir: string;
  host: string;
  port: number;
  batchRows: number;
  /** Field bytes (UTF-8) after which a batch is cut (batches are sized by bytes, capped by rows). */
  batchBytes: number;
  window: number;
  quiet: boolean;
  /** Silence from the gateway (no heartbeat either) after which its connection is taken for lost and replaced. */
  idleTimeoutMs: number;
  /** Interval of progress lines when stdout is not a TTY. */
  progressMs: number;
  /** How long to keep trying to resume the session after the gateway connection dropped. */
  reconnectTimeoutMs: number;
  /** How long to keep trying to make the first connection (0 = one attempt). */
  connectRetryMs: number;
  /** How long to keep asking for a session while the gateway is full (0 = fail at once with SESSION_LIMIT). */
  waitForSlotMs: number;
  /** Shared secret the gateway requires, if any. */
  token: string | null;
  /** Aborting it (SIGINT, say) gives the session up: INTERRUPTED, and the gateway is told. */
  signal?: AbortSignal;
}

/** What a finished client run produced. */
export interface ClientOutcome {
  session: string;
  dir: string;
  rowsSent: number;
  /** Data rows read from the files: those sent and those the reader itself rejected (as `coffee reference` counts them). */
  rowsRead: number;
  rejects: RejectReport;
  seconds: number;
  /** Files skipped because they were empty. */
  emptyFiles: string[];
  /** What the dataset check found worth saying (an entity folder without a CSV file). */
  datasetNotes: string[];
  /** Final counters per entity and query, for the summary. */
  progress: ProgressView;
}

/**
 * Entities in sending order: the small dimensions first, then the two large files. The reducers
 * join only once a session is complete, so the order is not needed for correctness; a fixed one
 * keeps progress output and the order of rejected-row reports the same from run to run.
 */
const SEND_ORDER: readonly Entity[] = ["stores", "menu_items", "users", "transactions", "transaction_items"];

/** Parse `--gateway host:port`. */
export function parseHostPort(text: string): { host: string; port: number } {
  const address = splitHostPort(text);
  if (!address || !isConnectablePort(address.port)) throw new ConfigError(`--gateway must be host:port with a port in 1..65535 (e.g. 127.0.0.1:9000, gateway:9000, [::1]:9000), got "${text}"`);
  return address;
}

/** Run one client session to completion; throws a CoffeeError on failure. */
export async function runClient(cfg: ClientConfig): Promise<ClientOutcome> {
  const started = performance.now();
  const emptyFiles: string[] = [];
  const datasetNotes: string[] = [];
  const files = validateDataset(cfg.dataDir, SEND_ORDER, emptyFiles, datasetNotes);
  const outDir = prepareOutDir(cfg.outDir);
  const rejects = new RejectReport();
  let session: string | null = null;
  /** The most rows the gateway takes in a batch, from its first welcome: --batch-rows above it is lowered to it (batches are cut once). */
  let gatewayMaxBatchRows = Number.POSITIVE_INFINITY;
  /** The session's resume key, from its welcome (a gateway that predates keys names none). */
  let resumeKey: { key: string } | Record<string, never> = {};
  let results: ResultFiles | null = null;
  let conn: GatewayConnection | null = null;
  /** The connection the gateway last welcomed us on. */
  let welcomedOn: GatewayConnection | null = null;
  /**
   * The connection new batches and ends of stream may go on: the one of the moment (it changes
   * on reconnects) once it is welcomed. A resumed connection takes nothing new before its
   * welcome, and the welcome handler sends what must go again, and `resent`, first.
   */
  const current = (): GatewayConnection | null => (conn !== null && conn === welcomedOn ? conn : null);
  const upload = new ClientUpload(cfg.window, current);
  const tally = new ClientProgress(files, started, (entity) => upload.eosConfirmed(entity));
  const logLines = new LogLines();
  const progress = new Progress(!cfg.quiet, { frame: (width, now) => renderFrame(tally.view(), width, now), log: (now) => logLines.next(tally.view(), now) }, { tty: 200, log: cfg.progressMs });
  /**
   * Silence after which the gateway is taken for lost: at least three of its heartbeat intervals,
   * once its welcome names them. The gateway sent nothing that long, heartbeats included: it is
   * gone (a host that died sends no FIN) or stuck. Its connection is left for a new one, which
   * resumes the session within --reconnect-timeout-s (before a welcome: says hello again if
   * --connect-retry-s is not spent).
   */
  const idle = new IdleWatch(cfg.idleTimeoutMs, () => {
    // A reconnect under way has its own deadline; the silent connection is already left.
    if (reconnect.underWay) return;
    const silent = new CoffeeError("SESSION_IDLE", `no word from the gateway for ${idle.limitMs / 1000} s${session ? ` in session ${session}` : " (no welcome)"}`);
    conn?.drop();
    conn = null;
    void reconnect.connectAgain(silent);
  });

  let settled = false;
  /** The run ended: the upload, the idle watch and reconnects stop. */
  const end = (): void => {
    settled = true;
    upload.stop();
    idle.stop();
    reconnect.stop();
  };
  let settle: { resolve: () => void; reject: (e: Error) => void };
  const finished = new Promise<void>((resolve, reject) => (settle = {
    resolve: () => { end(); resolve(); },
    reject: (e) => { end(); reject(e); },
  }));
  finished.catch(() => {});

  const reconnect: Reconnect<GatewayConnection> = new Reconnect({
    host: cfg.host, port: cfg.port, connectRetryMs: cfg.connectRetryMs, reconnectTimeoutMs: cfg.reconnectTimeoutMs,
    session: () => session,
    open: () => GatewayConnection.open(cfg.host, cfg.port, 64 << 20, { received: idle.heard, message: onMessage, closed: onClosed, failed: (err) => settle.reject(notAGateway(err)) }),
    opened: (c) => {
      conn = c;
      // Silence is counted from here for this connection, not from the last word on the old one.
      idle.arm();
      const token = cfg.token ? { token: cfg.token } : {};
      c.send(session ? { t: "resume", v: PROTOCOL_VERSION, session, ...upload.resumeCounts(), ...token, ...resumeKey } : { t: "hello", v: PROTOCOL_VERSION, ...token, keyed: true });
    },
    connecting: (reason, deadlineMs) => {
      // What a lost gateway said about the broker no longer holds.
      tally.brokerHeld = false;
      // Said at once: between two progress lines a user would otherwise see only a stalled upload.
      if (session && tally.resuming === null) {
        const now = performance.now();
        tally.resuming = { sinceMs: now, deadlineMs };
        progress.note(`${stamp(tally.view(), now)}lost the gateway (${reason}); resuming session ${session} within ${Math.round((deadlineMs - now) / 1000)} s`);
      }
    },
    failed: (err) => settle.reject(err),
  });

  const interrupted = (): void => settle.reject(new CoffeeError("INTERRUPTED", `interrupted${cfg.signal?.reason ? ` by ${String(cfg.signal.reason)}` : ""}; session ${session ?? "(none yet)"} given up`));
  if (cfg.signal?.aborted) interrupted();
  cfg.signal?.addEventListener("abort", interrupted, { once: true });
  /** Set once the run succeeded: anything else on the way out gives the session up. */
  let succeeded = false;
  const { promise: welcomed, resolve: welcome } = Promise.withResolvers<void>();
  let gatewayError = false;
  /** Why the gateway turned the current connection away (CONNECTION_LIMIT, SESSION_LIMIT while waiting), for the retry's last error. */
  let turnedAway: CoffeeError | null = null;
  /** When the gateway first said it was full (clock reading), while --wait-for-slot-s has us ask again. */
  let fullSinceMs: number | null = null;

  /**
   * The gateway is full (its --max-sessions). With --wait-for-slot-s time left, the connection
   * is closed and a session asked for again after a backoff (the refusal is the retry's last
   * error); true then. False when there is no wait, or it is spent: the refusal ends the run.
   */
  function waitForSlot(message: string): boolean {
    if (cfg.waitForSlotMs <= 0 || conn === null) return false;
    const now = performance.now();
    if (fullSinceMs === null) {
      fullSinceMs = now;
      reconnect.waitUntil(now + cfg.waitForSlotMs);
      progress.note(`${stamp(tally.view(), now)}the gateway is full (${message}); waiting up to ${cfg.waitForSlotMs / 1000} s for a free session slot (--wait-for-slot-s)`);
    } else if (now - fullSinceMs >= cfg.waitForSlotMs) return false;
    turnedAway = slotNeverFree(message);
    conn.close();
    return true;
  }

  /** The run's error once waiting for a slot was given up on. */
  const slotNeverFree = (message: string): CoffeeError =>
    new CoffeeError("SESSION_LIMIT", `${message}; no slot came free within --wait-for-slot-s ${cfg.waitForSlotMs / 1000}`);

  function onMessage(msg: GatewayMessage): void {
    tally.brokerHeld = msg.t === "heartbeat" && msg.brokerHeld === true;
    switch (msg.t) {
      case "heartbeat":
        return;
      case "welcome":
        // Never keep more batches unacknowledged than the gateway allows.
        upload.limit = Math.min(cfg.window, msg.maxInFlight);
        // A gateway configured to beat slower than our timeout is not taken for gone between beats.
        idle.limitMs = Math.max(cfg.idleTimeoutMs, 3 * msg.heartbeatMs);
        idle.arm();
        welcomedOn = conn;
        reconnect.welcomed();
        if (msg.resumed) {
          if (tally.resuming) {
            const now = performance.now();
            progress.note(`${stamp(tally.view(), now)}resumed session ${session} after ${((now - tally.resuming.sinceMs) / 1000).toFixed(1)} s`);
            tally.resuming = null;
          }
          upload.resend();
          return;
        }
        session = msg.session;
        if (msg.key !== undefined) resumeKey = { key: msg.key };
        if (msg.maxBatchRows !== undefined) gatewayMaxBatchRows = msg.maxBatchRows;
        tally.session = session;
        tally.startedMs = performance.now();
        if (fullSinceMs !== null) progress.note(`${stamp(tally.view(), tally.startedMs)}a session slot came free after ${((tally.startedMs - fullSinceMs) / 1000).toFixed(1)} s of waiting`);
        try {
          results = new ResultFiles(cfg.outDir, msg.session);
        } catch (err) {
          // This connection ends with the error: the session is given up on it now, while it is
          // still there to say so (the way out finds no connection), rather than held for the TTL.
          current()?.send({ t: "abort" });
          throw err;
        }
        welcome();
        return;
      case "ack": {
        const batch = upload.ack(msg.entity, msg.seq);
        if (!batch) return;
        msg.rejected.forEach((line, i) => rejects.add(batch.file, line, msg.reasons?.[i]));
        tally.acked(msg.entity, batch.rows, msg.rejected.length, performance.now());
        return;
      }
      case "eos-ack":
        upload.eosAck(msg.entity);
        tally.eosAcked(msg.entity, performance.now());
        return;
      case "result":
        if (!results) return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", "result before welcome"));
        try {
          if (results.add(msg.query, msg.chunk, msg.last, msg.csv)) tally.resultChunk(msg.query, !results.missing().includes(msg.query), performance.now());
        } catch (err) {
          settle.reject(err as Error);
        }
        return;
      case "done":
        if (!results?.allComplete()) {
          return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", `gateway said done but ${results?.missing().join(", ")} incomplete`));
        }
        if (upload.unacked > 0) {
          return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", `gateway said done with ${upload.unacked} batches unacknowledged`));
        }
        results.commit();
        // Only now may the gateway forget the session: until the files are committed, a lost
        // connection resumes and gets the results again.
        current()?.send({ t: "bye" });
        return settle.resolve();
      case "error":
        // The connection dropped with `done` on its way, and the gateway, finished with the
        // session, forgot it: every result and ack is here, so the session is complete all the same.
        if (msg.code === "SESSION_UNKNOWN" && results?.allComplete() && upload.unacked === 0 && SEND_ORDER.every((e) => upload.eosConfirmed(e))) {
          results.commit();
          return settle.resolve();
        }
        // Turned away before a hello (the gateway's --max-handshakes): busy, not refused. This
        // connection is closed and another tried within the retry budget, a resume included.
        if (msg.code === "CONNECTION_LIMIT" && conn !== null && conn !== welcomedOn) {
          turnedAway = new CoffeeError(msg.code, msg.message);
          conn.close();
          return;
        }
        // Full, and waiting for a slot: asked again later. A refusal after the wait is the run's end, saying so.
        if (msg.code === "SESSION_LIMIT" && session === null && waitForSlot(msg.message)) return;
        gatewayError = true;
        return settle.reject(msg.code === "SESSION_LIMIT" && fullSinceMs !== null ? slotNeverFree(msg.message) : new CoffeeError(msg.code, msg.message));
    }
  }

  /**
   * The connection dropped. Before the welcome there is no session yet: connect again and say
   * hello (the gateway may have been restarting). A session in progress reconnects and resumes.
   */
  function onClosed(err: Error | null): void {
    conn = null;
    const cause = err ?? turnedAway;
    turnedAway = null;
    if (settled || gatewayError) return;
    void reconnect.connectAgain(cause);
  }

  /**
   * Bytes that do not decode before any welcome mean another server answers at that address
   * (RabbitMQ's "AMQP" reads as a 1 GB frame): said so, not as a frame error of ours.
   */
  function notAGateway(err: Error): Error {
    return welcomedOn === null && err instanceof DecodeError
      ? new CoffeeError("GATEWAY_UNREACHABLE", `no coffee gateway at ${cfg.host}:${cfg.port}: what answers there does not speak coffee's protocol (${err.message})`)
      : err;
  }

  progress.start();
  try {
    // Raced with the run's end: a Ctrl-C while a connect hangs (a host dropping SYNs) acts now.
    await Promise.race([reconnect.connectAgain(null, true), finished]);
    await Promise.race([welcomed, finished]);
    const source = {
      order: SEND_ORDER, files, fileSizes: tally.fileSizes, batchRows: Math.min(cfg.batchRows, gatewayMaxBatchRows), batchBytes: cfg.batchBytes,
      reject: (entity: Entity, file: string, line: number, reason: string): void => {
        rejects.add(file, line, reason);
        tally.rejectedHere(entity);
      },
    };
    const send = uploadDataset(source, upload, {
      started: (entity) => tally.started(entity, performance.now()),
      sent: (entity, rows, bytes) => tally.sent(entity, rows, bytes),
      ended: (entity) => tally.ended(entity, performance.now()),
    });
    send.catch((err) => settle.reject(err as Error));
    await finished;
    progress.finish();
    succeeded = true;
    return {
      session: session!, dir: results!.dir, rowsSent: tally.rowsSent, rowsRead: tally.rowsSent + tally.rowsRejectedHere, rejects,
      seconds: (performance.now() - started) / 1000, emptyFiles, datasetNotes, progress: tally.snapshot(),
    };
  } finally {
    cfg.signal?.removeEventListener("abort", interrupted);
    if (!succeeded) {
      // This run will not resume its session: the gateway may free its slot now rather than
      // after its TTL (unless it ended the session itself), and no partial file stays behind.
      if (session !== null && !gatewayError) current()?.send({ t: "abort" });
      (results as ResultFiles | null)?.discard();
      // Only folders this run made that are empty now (its session's removed just above).
      outDir.removeIfUnused();
    }
    end();
    progress.finish();
    (results as ResultFiles | null)?.close();
    (conn as GatewayConnection | null)?.close();
  }
}

/** Signals that give the session up (the exit code is 128 + the signal's number). */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

const OPTIONS: readonly OptionSpec[] = [
  { name: "data", type: "string", env: "COFFEE_DATA", required: true, help: "dataset folder with transactions/, transaction_items/, users/, stores/, menu_items/" },
  { name: "out", type: "string", env: "COFFEE_OUT", default: "./results", help: "results go to OUT/session_<id>/query1..4.csv" },
  { name: "gateway", type: "string", env: "COFFEE_GATEWAY", default: "127.0.0.1:9000", help: "gateway address host:port" },
  // Every role takes it (README "Roles and options"), so one environment serves them all; the client talks to the gateway only.
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "accepted like every role's, unused: the client talks to no broker" },
  { name: "batch-rows", type: "int", env: "COFFEE_BATCH_ROWS", default: 50_000, min: 1, max: 1_000_000, help: "most rows per batch sent (lowered to the gateway's --max-batch-rows, which its first welcome names)" },
  { name: "batch-bytes", type: "int", env: "COFFEE_BATCH_BYTES", default: 1_048_576, min: 1024, max: 8 * 1024 * 1024, help: "a batch is sent once its fields hold this many bytes of UTF-8 (the broker is cheap per byte, dear per message; at most 8 MiB, so that with this dataset's row widths its frame, field ends included, fits the gateway's 16 MiB --max-frame-bytes)" },
  { name: "window", type: "int", env: "COFFEE_WINDOW", default: 8, min: 1, max: 1024, help: "batches sent but not yet acknowledged" },
  { name: "idle-timeout-s", type: "int", env: "COFFEE_IDLE_TIMEOUT_S", default: 60, min: 1, max: 86_400, help: "a gateway that sends nothing this long, heartbeats included (at least three of the intervals its welcome names), is taken for lost: the client connects again and resumes its session within --reconnect-timeout-s (before a welcome: SESSION_IDLE, unless --connect-retry-s has time left)" },
  { name: "health-port", type: "int", env: "HEALTH_PORT", default: 0, min: 0, max: 65535, help: "UDP port answering PING with OK (0 = any free port)" },
  // Nothing outside this machine pings a client.
  { ...HEALTH_HOST_OPTION, default: "127.0.0.1" },
  { name: "token", type: "string", env: "COFFEE_TOKEN", secret: true, help: "shared secret the gateway requires (file: first line)" },
  { name: "connect-retry-s", type: "int", env: "COFFEE_CONNECT_RETRY_S", default: 10, min: 0, max: 3600, help: "keep trying the first connection this long (a gateway may be restarting)" },
  { name: "wait-for-slot-s", type: "int", env: "COFFEE_WAIT_FOR_SLOT_S", default: 0, min: 0, max: 86_400, help: "when the gateway is full (SESSION_LIMIT, its --max-sessions), keep asking for a session this long instead of failing at once, with backoff up to 5 s between asks (0 = fail at once); a gateway unreachable for --connect-retry-s meanwhile ends the wait; waiting clients are not served in any order" },
  { name: "reconnect-timeout-s", type: "int", env: "COFFEE_RECONNECT_TIMEOUT_S", default: 120, min: 1, max: 86_400, help: "keep trying to resume the session this long after losing the gateway" },
  { name: "progress-ms", type: "int", env: "COFFEE_PROGRESS_MS", default: 5000, min: 50, max: 3_600_000, help: "interval of progress lines when not on a TTY" },
  // The client is checked by the timer only, and its heap holds parse buffers: a higher limit.
  { ...HEAP_LIMIT_OPTION, default: 64, help: "soft limit of the JavaScript heap, checked every 250 ms: above it a full garbage collection runs (0 = leave it to the runtime)" },
  { name: "quiet", type: "bool", default: false, help: "no progress bars or summary table: only the final 'session <id>: ... results in <dir>' line (and on stderr, reject reports and the folders of killed clients it removed)" },
];

/** Compile parsed client options. */
export function clientConfig(values: OptionValues): ClientConfig {
  const { host, port } = parseHostPort(str(values, "gateway"));
  return {
    dataDir: str(values, "data"), outDir: str(values, "out"), host, port,
    batchRows: int(values, "batch-rows"), batchBytes: int(values, "batch-bytes"), window: int(values, "window"), quiet: bool(values, "quiet"),
    idleTimeoutMs: int(values, "idle-timeout-s") * 1000,
    progressMs: int(values, "progress-ms"),
    reconnectTimeoutMs: int(values, "reconnect-timeout-s") * 1000,
    connectRetryMs: int(values, "connect-retry-s") * 1000,
    waitForSlotMs: int(values, "wait-for-slot-s") * 1000,
    token: optStr(values, "token") ?? null,
  };
}

/** The client's documented defaults with `overrides` (data, out, gateway address...), for in-process use. */
export function defaultClientConfig(overrides: Partial<ClientConfig> & Pick<ClientConfig, "dataDir" | "outDir">): ClientConfig {
  return { ...clientConfig(parseOptions(OPTIONS, ["--data", overrides.dataDir], {})), ...overrides };
}

/** `coffee --role client`. */
export const clientCommand: Command = {
  name: "client",
  usage: "coffee --role client --data DIR --out OUT [--gateway host:port] [options]",
  description: "Sends a dataset to the gateway and writes the four result files of its session.",
  options: OPTIONS,
  async run(values) {
    const cfg = clientConfig(values);
    // Every process of every role answers PING (README "Health"), the client included.
    const health = await startHealthServer({ port: int(values, "health-port"), host: str(values, "health-host"), status: () => ({ role: "client", name: "client" }) });
    // Each batch leaves a megabyte or so of garbage behind; without a nudge the heap grows to a multiple of what is live.
    const governor = startHeapGovernor(int(values, "heap-limit-mb"));
    // Ctrl-C, a stop, or the terminal closed (SIGHUP): the session is given up cleanly (the
    // gateway told, so its slot is free at once; partial files gone).
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);
    // Started under nohup, SIGHUP stays ignored: a closed terminal must not stop it. (SIGINT and
    // SIGTERM are handled even when ignored, as a script's background job has SIGINT: as every role.)
    const handled = STOP_SIGNALS.filter((signal) => signal !== "SIGHUP" || !startedIgnoring("SIGHUP"));
    for (const signal of handled) process.once(signal, onSignal);
    try {
      for (const dir of removeAbandonedResults(cfg.outDir)) process.stderr.write(`removed ${dir}: partial results of a client that was killed before its session ended\n`);
      const outcome = await runClient({ ...cfg, signal: stop.signal });
      for (const line of rejectReportLines(outcome.rejects.files())) process.stderr.write(`${line}\n`);
      for (const file of outcome.emptyFiles) process.stderr.write(`skipped: ${file}: empty file\n`);
      for (const note of outcome.datasetNotes) process.stderr.write(`warning: ${note}\n`);
      // --quiet is for scripts: the final line alone, which they parse for the results directory.
      if (!cfg.quiet) for (const line of renderSummary(outcome.progress, outcome.seconds)) process.stdout.write(`${line}\n`);
      // Rows read and rejected as `coffee reference` counts them; sent leaves out the reader's own
      // rejects, and holds the gateway's (said, or the three numbers do not add up).
      const atGateway = outcome.rejects.total - (outcome.rowsRead - outcome.rowsSent);
      const rejected = `${outcome.rejects.total} rejected${atGateway > 0 ? ` (${atGateway} of them by the gateway, among the rows sent)` : ""}`;
      process.stdout.write(`session ${outcome.session}: ${outcome.rowsRead} rows read, ${rejected}, ${outcome.rowsSent} rows sent, ` +
        `${Math.round(outcome.rowsRead / outcome.seconds)} rows/s, ${outcome.seconds.toFixed(2)} s; results in ${outcome.dir}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`coffee client: ${codedMessage(err)}\n`);
      // The shell's convention for a process stopped by a signal: 128 + its number.
      if (hasCode(err, "INTERRUPTED")) return 128 + (osConstants.signals[stop.signal.reason as (typeof STOP_SIGNALS)[number]] ?? osConstants.signals.SIGINT);
      return exitCodeOf(err);
    } finally {
      for (const signal of handled) process.off(signal, onSignal);
      governor.stop();
      health.close();
    }
  },
};
