/**
 * Client role: streams a dataset folder to the gateway and writes the four result files.
 * A reader task parses CSV into batches (bounded queue) while the sender keeps at most `window`
 * batches unacknowledged, so memory stays flat and the broker's pace sets the client's pace.
 */
import { accessSync, constants, existsSync, mkdirSync, rmdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { jitteredBackoffMs } from "../src/backoff.ts";
import { BoundedQueue } from "../src/boundedQueue.ts";
import type { Command } from "../src/command.ts";
import { readEntityFile, type TextBatch } from "../src/csvSource.ts";
import { CoffeeError, ConfigError, DecodeError, codedMessage, errorMessage, exitCodeOf } from "../src/errors.ts";
import { isConnectablePort, splitHostPort } from "../src/hostPort.ts";
import { GatewayConnection } from "../src/gatewayConnection.ts";
import { HEALTH_HOST_OPTION, startHealthServer } from "../src/health.ts";
import { HEAP_LIMIT_OPTION, startHeapGovernor } from "../src/heapGovernor.ts";
import { bool, int, optStr, parseOptions, str, type OptionSpec, type OptionValues } from "../src/options.ts";
import { Progress } from "../src/progress.ts";
import { LogLines, renderFrame, renderSummary, stamp, type EntityView, type ProgressView, type QueryView } from "../src/progressBars.ts";
import { PROTOCOL_VERSION, type ClientMessage, type GatewayMessage } from "../src/protocol.ts";
import { RejectReport, rejectReportLines } from "../src/rejectReport.ts";
import { ResultFiles } from "../src/resultFiles.ts";
import { validateDataset } from "../src/datasetCheck.ts";
import { QUERIES, type Entity, type QueryName } from "../src/schema.ts";

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

/** Entities in sending order: small dimensions first, so joins never wait on them. */
const SEND_ORDER: readonly Entity[] = ["stores", "menu_items", "users", "transactions", "transaction_items"];

/** A file's size, or null when it cannot be read (progress then shows no percentage for its entity). */
function statSizeOrNull(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** Make sure the results can be written before a session starts (not after the upload). */
function checkOutDir(outDir: string): string[] {
  const made = missingFolders(resolve(outDir));
  try {
    mkdirSync(outDir, { recursive: true });
    accessSync(outDir, constants.W_OK);
    return made;
  } catch (err) {
    throw new ConfigError(`--out ${outDir}: cannot write results there (${errorMessage(err)})`);
  }
}

/** `dir` and those of its ancestors that do not exist yet, deepest first. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  return missing;
}

/**
 * Remove the folders checkOutDir made (`made`, deepest first) while they are empty: a run that
 * never got a session leaves no litter. A folder another client has written into since stays
 * (rmdir refuses a folder that is not empty), and so does every folder above it.
 */
function removeEmptyOutDir(made: readonly string[]): void {
  for (const dir of made) {
    try {
      rmdirSync(dir);
    } catch {
      return;
    }
  }
}

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
  const outFoldersMade = checkOutDir(cfg.outDir);
  const rejects = new RejectReport();
  let session: string | null = null;
  let results: ResultFiles | null = null;
  let rowsSent = 0;
  /** Rows the reader rejected (field count, quotes, UTF-8): read but never sent. */
  let rowsRejectedHere = 0;
  /** Batches sent and not yet acknowledged, with their message, to send again after a resume. */
  const inFlight = new Map<string, { file: string; rows: number; msg: ClientMessage }>();
  const seqs = new Map<Entity, number>();
  const eosSent = new Map<Entity, number>();
  const eosAcked = new Set<Entity>();
  const waiters: (() => void)[] = [];
  const wakeAll = (): void => { for (const w of waiters.splice(0)) w(); };
  // Rows are not known up front, bytes are: progress is estimated from the files' sizes.
  const fileSizes = new Map<string, number | null>();
  const entities = new Map<Entity, EntityView>(SEND_ORDER.map((entity) => {
    let totalBytes: number | null = 0;
    for (const file of files.get(entity)!) {
      const size = statSizeOrNull(file.path);
      fileSizes.set(file.path, size);
      totalBytes = totalBytes === null || size === null ? null : totalBytes + size;
    }
    return [entity, { name: entity, totalBytes, bytesSent: 0, rowsSent: 0, rowsAcked: 0, rejected: 0, phase: "waiting", startedMs: null, doneMs: null }];
  }));
  const queries = new Map<QueryName, QueryView>(QUERIES.map((q) => [q, { name: q, chunks: 0, completeMs: null }]));
  let sessionStarted = started;
  /**
   * The gateway's last word was a heartbeat saying the broker takes no publishes (shown, so a long
   * wait is explained). Any other word (an ack, a result: the broker took those) or a lost
   * connection clears it.
   */
  let brokerHeld = false;
  /** The gateway connection was lost mid-session (since, clock reading) and is being resumed until the deadline. */
  let resuming: { sinceMs: number; deadlineMs: number } | null = null;
  const view = (): ProgressView => ({ session, startedMs: sessionStarted, entities: [...entities.values()], queries: [...queries.values()], brokerHeld, resuming });
  const logLines = new LogLines();
  const progress = new Progress(!cfg.quiet, { frame: (width, now) => renderFrame(view(), width, now), log: (now) => logLines.next(view(), now) }, { tty: 200, log: cfg.progressMs });
  /** An entity is done once the gateway confirmed its end of stream and every one of its batches. */
  const checkDone = (entity: Entity): void => {
    const e = entities.get(entity)!;
    if (e.phase === "acking" && eosAcked.has(entity) && e.rowsAcked === e.rowsSent) {
      e.phase = "done";
      e.doneMs = performance.now();
    }
  };
  let settled = false;
  let settle: { resolve: () => void; reject: (e: Error) => void };
  const finished = new Promise<void>((resolve, reject) => (settle = {
    resolve: () => { settled = true; resolve(); },
    reject: (e) => { settled = true; reject(e); },
  }));
  finished.catch(() => {});
  const interrupted = (): void => settle.reject(new CoffeeError("INTERRUPTED", `interrupted${cfg.signal?.reason ? ` by ${String(cfg.signal.reason)}` : ""}; session ${session ?? "(none yet)"} given up`));
  if (cfg.signal?.aborted) interrupted();
  cfg.signal?.addEventListener("abort", interrupted, { once: true });
  /** Set once the run succeeded: anything else on the way out gives the session up. */
  let succeeded = false;
  const { promise: welcomed, resolve: welcome } = Promise.withResolvers<void>();
  let window = cfg.window;
  let conn: GatewayConnection | null = null;
  /** The connection the gateway last welcomed us on. */
  let welcomedOn: GatewayConnection | null = null;
  /**
   * The connection new batches and ends of stream may go on: the one of the moment (it changes
   * on reconnects) once it is welcomed. A resumed connection takes nothing new before its
   * welcome, and the welcome handler sends what must go again, and `resent`, first.
   */
  const current = (): GatewayConnection | null => (conn !== null && conn === welcomedOn ? conn : null);
  let gatewayError = false;
  /** Why the gateway turned the current connection away (CONNECTION_LIMIT), for the retry's last error. */
  let turnedAway: CoffeeError | null = null;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Silence after which the gateway is taken for lost: at least three of its heartbeat intervals, once its welcome names them. */
  let idleMs = cfg.idleTimeoutMs;
  /**
   * When the current connection last brought bytes, of a frame or not: a large result chunk on a
   * slow link is one frame that takes long to arrive, and is not silence.
   */
  let heardMs = performance.now();
  const heard = (): void => void (heardMs = performance.now());
  /** Count silence from now (a new connection, a new idleMs). */
  const armIdle = (): void => {
    heard();
    if (idleTimer) clearTimeout(idleTimer);
    // A heartbeat read while the last connection closes must not keep a finished run alive.
    idleTimer = settled ? null : setTimeout(onIdle, idleMs);
  };
  /**
   * The gateway sent nothing for `idleMs`, heartbeats included: it is gone (a host that died sends
   * no FIN) or stuck. Its connection is left for a new one, which resumes the session within
   * --reconnect-timeout-s (before a welcome: says hello again if --connect-retry-s is not spent).
   */
  const onIdle = (): void => {
    if (settled) return;
    const quietMs = performance.now() - heardMs;
    if (quietMs < idleMs) {
      idleTimer = setTimeout(onIdle, idleMs - quietMs);
      return;
    }
    armIdle();
    // A reconnect under way has its own deadline; the silent connection is already left.
    if (connecting) return;
    const silent = new CoffeeError("SESSION_IDLE", `no word from the gateway for ${idleMs / 1000} s${session ? ` in session ${session}` : " (no welcome)"}`);
    conn?.drop();
    conn = null;
    void connectAgain(silent);
  };

  /** After a resume: everything the gateway may not have had confirmed goes out again. */
  const resend = (): void => {
    for (const b of inFlight.values()) conn?.send(b.msg);
    for (const [entity, count] of eosSent) if (!eosAcked.has(entity)) conn?.send({ t: "eos", entity, count });
    conn?.send({ t: "resent" });
  };

  const onMessage = (msg: GatewayMessage): void => {
    brokerHeld = msg.t === "heartbeat" && msg.brokerHeld === true;
    switch (msg.t) {
      case "heartbeat":
        return;
      case "welcome":
        // Never keep more batches unacknowledged than the gateway allows.
        window = Math.min(cfg.window, msg.maxInFlight);
        // A gateway configured to beat slower than our timeout is not taken for gone between beats.
        idleMs = Math.max(cfg.idleTimeoutMs, 3 * msg.heartbeatMs);
        armIdle();
        welcomedOn = conn;
        retry = null;
        if (msg.resumed) {
          if (resuming) {
            const now = performance.now();
            progress.note(`${stamp(view(), now)}resumed session ${session} after ${((now - resuming.sinceMs) / 1000).toFixed(1)} s`);
            resuming = null;
          }
          resend();
          wakeAll();
          return;
        }
        session = msg.session;
        sessionStarted = performance.now();
        results = new ResultFiles(cfg.outDir, msg.session);
        welcome();
        return;
      case "ack": {
        const key = `${msg.entity}#${msg.seq}`;
        const batch = inFlight.get(key);
        // After a resume the old connection's acks may race the new one's: ack once is enough.
        if (!batch) return;
        inFlight.delete(key);
        msg.rejected.forEach((line, i) => rejects.add(batch.file, line, msg.reasons?.[i]));
        const e = entities.get(msg.entity)!;
        e.rowsAcked += batch.rows;
        e.rejected += msg.rejected.length;
        checkDone(msg.entity);
        wakeAll();
        return;
      }
      case "eos-ack":
        eosAcked.add(msg.entity);
        checkDone(msg.entity);
        return;
      case "result":
        if (!results) return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", "result before welcome"));
        try {
          if (results.add(msg.query, msg.chunk, msg.last, msg.csv)) {
            const q = queries.get(msg.query)!;
            q.chunks++;
            // Chunks may arrive out of order: complete means the file is, not that `last` came.
            if (q.completeMs === null && !results.missing().includes(msg.query)) q.completeMs = performance.now();
          }
        } catch (err) {
          settle.reject(err as Error);
        }
        return;
      case "done":
        if (!results?.allComplete()) {
          return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", `gateway said done but ${results?.missing().join(", ")} incomplete`));
        }
        if (inFlight.size > 0) {
          return settle.reject(new CoffeeError("PROTOCOL_VIOLATION", `gateway said done with ${inFlight.size} batches unacknowledged`));
        }
        results.commit();
        // Only now may the gateway forget the session: until the files are committed, a lost
        // connection resumes and gets the results again.
        current()?.send({ t: "bye" });
        return settle.resolve();
      case "error":
        // The connection dropped with `done` on its way, and the gateway, finished with the
        // session, forgot it: every result and ack is here, so the session is complete all the same.
        if (msg.code === "SESSION_UNKNOWN" && results?.allComplete() && inFlight.size === 0 && SEND_ORDER.every((e) => eosAcked.has(e))) {
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
        gatewayError = true;
        return settle.reject(new CoffeeError(msg.code, msg.message));
    }
  };

  /**
   * Attempts to connect since the gateway last welcomed us, and until when they may go on. One
   * budget across drops, reset only by a welcome: a port that accepts and closes at once (Docker's
   * proxy while the gateway's container is down) is retried with backoff and given up on at the
   * deadline, not reconnected to in a tight loop with a fresh deadline per drop.
   */
  let retry: { deadline: number; attempt: number; lastError: string } | null = null;
  /** A connectAgain is under way (at most one at a time). */
  let connecting = false;

  /**
   * The connection dropped. Before the welcome there is no session yet: connect again and say
   * hello (the gateway may have been restarting). A session in progress reconnects and resumes.
   */
  const onClosed = (err: Error | null): void => {
    conn = null;
    const cause = err ?? turnedAway;
    turnedAway = null;
    if (settled || gatewayError) return;
    void connectAgain(cause);
  };

  const open = async (): Promise<GatewayConnection> =>
    GatewayConnection.open(cfg.host, cfg.port, 64 << 20, { received: heard, message: onMessage, closed: onClosed, failed: (err) => settle.reject(notAGateway(err)) });

  /**
   * Bytes that do not decode before any welcome mean another server answers at that address
   * (RabbitMQ's "AMQP" reads as a 1 GB frame): said so, not as a frame error of ours.
   */
  const notAGateway = (err: Error): Error =>
    welcomedOn === null && err instanceof DecodeError
      ? new CoffeeError("GATEWAY_UNREACHABLE", `no coffee gateway at ${cfg.host}:${cfg.port}: what answers there does not speak coffee's protocol (${err.message})`)
      : err;

  /**
   * Connect and say hello, or resume the session once there is one, within the retry budget.
   * Every attempt but the run's very first waits a capped, jittered backoff, so restarted
   * gateways are not stampeded.
   */
  async function connectAgain(cause: Error | null, first = false): Promise<void> {
    connecting = true;
    // What a lost gateway said about the broker no longer holds.
    brokerHeld = false;
    try {
      await connectWithin(cause, first);
    } finally {
      connecting = false;
    }
  }

  async function connectWithin(cause: Error | null, first: boolean): Promise<void> {
    retry ??= { deadline: performance.now() + (session ? cfg.reconnectTimeoutMs : cfg.connectRetryMs), attempt: 0, lastError: "connection closed" };
    const r = retry;
    if (cause) r.lastError = cause.message;
    // Said at once: between two progress lines a user would otherwise see only a stalled upload.
    if (session && resuming === null) {
      const now = performance.now();
      resuming = { sinceMs: now, deadlineMs: r.deadline };
      progress.note(`${stamp(view(), now)}lost the gateway (${r.lastError}); resuming session ${session} within ${Math.round((r.deadline - now) / 1000)} s`);
    }
    let lastFailure: unknown = cause;
    while (!settled) {
      // Checked before each attempt, not only after failed ones: connects that succeed and are
      // closed before a welcome use up the budget too.
      if (r.attempt > 0 && performance.now() >= r.deadline) return giveUp(r, lastFailure);
      if (!first || r.attempt > 0) await Bun.sleep(jitteredBackoffMs(r.attempt, 100, session ? 5000 : 2000));
      r.attempt++;
      if (settled) return;
      try {
        const c = await open();
        // The run ended while this connect was under way: nobody will use it.
        if (settled) return void c.close();
        conn = c;
        // Silence is counted from here for this connection, not from the last word on the old one.
        armIdle();
        if (session) {
          const sent: Partial<Record<Entity, number>> = Object.fromEntries(seqs);
          c.send({ t: "resume", v: PROTOCOL_VERSION, session, sent, eos: [...eosAcked], ...(cfg.token ? { token: cfg.token } : {}) });
        } else {
          c.send({ t: "hello", v: PROTOCOL_VERSION, ...(cfg.token ? { token: cfg.token } : {}) });
        }
        return;
      } catch (err) {
        lastFailure = err;
        r.lastError = errorMessage(err);
      }
    }
  }

  /** The retry budget is spent: the run fails, saying what the last attempt met. */
  function giveUp(r: { lastError: string }, lastFailure: unknown): void {
    if (session) settle.reject(new CoffeeError("CONNECTION_LOST", `lost the gateway and could not resume session ${session} within ${cfg.reconnectTimeoutMs / 1000} s: ${r.lastError}`));
    else settle.reject(lastFailure instanceof CoffeeError ? lastFailure : new CoffeeError("CONNECTION_LOST", `could not reach the gateway at ${cfg.host}:${cfg.port} and be welcomed within ${cfg.connectRetryMs / 1000} s: ${r.lastError}`));
  }

  progress.start();
  try {
    // Raced with the run's end: a Ctrl-C while a connect hangs (a host dropping SYNs) acts now.
    await Promise.race([connectAgain(null, true), finished]);
    await Promise.race([welcomed, finished]);
    const send = (async () => {
      /** `bytes`: bytes of the entity's files up to this batch's rows, for the progress estimate. */
      const queue = new BoundedQueue<{ entity: Entity; batch: TextBatch; bytes: number } | { entity: Entity; eos: number }>(4);
      const reader = (async () => {
        try {
          for (const entity of SEND_ORDER) {
            let seq = 0;
            let earlierFiles = 0;
            const e = entities.get(entity)!;
            const onReject = (label: string) => (line: number, reason: string): void => {
              rejects.add(label, line, reason);
              e.rejected++;
              rowsRejectedHere++;
            };
            for (const file of files.get(entity)!) {
              let fileBytes = 0;
              for await (const batch of readEntityFile(file.path, entity, onReject(file.label), { batchRows: cfg.batchRows, batchBytes: cfg.batchBytes })) {
                batch.file = file.label;
                fileBytes = batch.bytesRead;
                // The sender stopped (the run ended): leaving the loop closes the file.
                if (!(await queue.push({ entity, batch, bytes: earlierFiles + batch.bytesRead }))) return;
                seq++;
              }
              // The whole file counts once it is read, also bytes after its last batch (rejected rows).
              earlierFiles += fileSizes.get(file.path) ?? fileBytes;
            }
            if (!(await queue.push({ entity, eos: seq }))) return;
          }
          queue.close();
        } catch (err) {
          queue.close(err);
        }
      })();
      try {
        await sendAll();
      } finally {
        // However the sending ends, the reader must not wait forever on a full queue with a file open.
        queue.close();
      }
      await reader;

      /** Send what the reader queues, within the window, until the queue is drained or the run ended. */
      async function sendAll(): Promise<void> {
        for await (const item of queue.drain()) {
          if (settled) break;
          const e = entities.get(item.entity)!;
          if (e.startedMs === null) {
            e.startedMs = performance.now();
            e.phase = "sending";
          }
          if ("eos" in item) {
            eosSent.set(item.entity, item.eos);
            e.phase = "acking";
            e.bytesSent = e.totalBytes ?? e.bytesSent;
            checkDone(item.entity);
            current()?.send({ t: "eos", entity: item.entity, count: item.eos });
            continue;
          }
          while (!settled && (inFlight.size >= window || !current())) await new Promise<void>((r) => waiters.push(r));
          // Woken by the run's end (an abort may be on the wire already): nothing more goes out.
          if (settled) break;
          const seq = seqs.get(item.entity) ?? 0;
          seqs.set(item.entity, seq + 1);
          const rows = item.batch.lines.length;
          const msg: ClientMessage = { t: "batch", entity: item.entity, seq, lines: Uint32Array.from(item.batch.lines), columns: item.batch.columns };
          inFlight.set(`${item.entity}#${seq}`, { file: item.batch.file, rows, msg });
          current()?.send(msg);
          rowsSent += rows;
          e.rowsSent += rows;
          e.bytesSent = item.bytes;
          await current()?.ready();
        }
      }
    })();
    send.catch((err) => settle.reject(err as Error));
    await finished;
    progress.finish();
    const final = view();
    succeeded = true;
    return {
      session: session!, dir: results!.dir, rowsSent, rowsRead: rowsSent + rowsRejectedHere, rejects, seconds: (performance.now() - started) / 1000, emptyFiles, datasetNotes,
      progress: { ...final, entities: final.entities.map((e) => ({ ...e })), queries: final.queries.map((q) => ({ ...q })) },
    };
  } finally {
    cfg.signal?.removeEventListener("abort", interrupted);
    if (!succeeded) {
      // This run will not resume its session: the gateway may free its slot now rather than
      // after its TTL (unless it ended the session itself), and no partial file stays behind.
      if (session !== null && !gatewayError) current()?.send({ t: "abort" });
      (results as ResultFiles | null)?.discard();
      if (session === null) removeEmptyOutDir(outFoldersMade);
    }
    settled = true;
    wakeAll();
    if (idleTimer) clearTimeout(idleTimer);
    progress.finish();
    (results as ResultFiles | null)?.close();
    (conn as GatewayConnection | null)?.close();
  }
}

const OPTIONS: readonly OptionSpec[] = [
  { name: "data", type: "string", env: "COFFEE_DATA", required: true, help: "dataset folder with transactions/, transaction_items/, users/, stores/, menu_items/" },
  { name: "out", type: "string", env: "COFFEE_OUT", default: "./results", help: "results go to OUT/session_<id>/query1..4.csv" },
  { name: "gateway", type: "string", env: "COFFEE_GATEWAY", default: "127.0.0.1:9000", help: "gateway address host:port" },
  // Every role takes it (README "Roles and options"), so one environment serves them all; the client talks to the gateway only.
  { name: "namespace", type: "string", env: "COFFEE_NAMESPACE", default: "coffee", help: "accepted like every role's, unused: the client talks to no broker" },
  { name: "batch-rows", type: "int", env: "COFFEE_BATCH_ROWS", default: 50_000, min: 1, max: 1_000_000, help: "most rows per batch sent (keep it under the gateway's --max-batch-rows)" },
  { name: "batch-bytes", type: "int", env: "COFFEE_BATCH_BYTES", default: 1_048_576, min: 1024, max: 8 * 1024 * 1024, help: "a batch is sent once its fields hold this many bytes of UTF-8 (the broker is cheap per byte, dear per message; at most 8 MiB, so that with this dataset's row widths its frame, field ends included, fits the gateway's 16 MiB --max-frame-bytes)" },
  { name: "window", type: "int", env: "COFFEE_WINDOW", default: 8, min: 1, max: 1024, help: "batches sent but not yet acknowledged" },
  { name: "idle-timeout-s", type: "int", env: "COFFEE_IDLE_TIMEOUT_S", default: 60, min: 1, max: 86_400, help: "a gateway that sends nothing this long, heartbeats included (at least three of the intervals its welcome names), is taken for lost: the client connects again and resumes its session within --reconnect-timeout-s (before a welcome: SESSION_IDLE, unless --connect-retry-s has time left)" },
  { name: "health-port", type: "int", env: "HEALTH_PORT", default: 0, min: 0, max: 65535, help: "UDP port answering PING with OK (0 = any free port)" },
  // Nothing outside this machine pings a client.
  { ...HEALTH_HOST_OPTION, default: "127.0.0.1" },
  { name: "token", type: "string", env: "COFFEE_TOKEN", secret: true, help: "shared secret the gateway requires (file: first line)" },
  { name: "connect-retry-s", type: "int", env: "COFFEE_CONNECT_RETRY_S", default: 10, min: 0, max: 3600, help: "keep trying the first connection this long (a gateway may be restarting)" },
  { name: "reconnect-timeout-s", type: "int", env: "COFFEE_RECONNECT_TIMEOUT_S", default: 120, min: 1, max: 86_400, help: "keep trying to resume the session this long after losing the gateway" },
  { name: "progress-ms", type: "int", env: "COFFEE_PROGRESS_MS", default: 5000, min: 50, max: 3_600_000, help: "interval of progress lines when not on a TTY" },
  // The client is checked by the timer only, and its heap holds parse buffers: a higher limit.
  { ...HEAP_LIMIT_OPTION, default: 64, help: "soft limit of the JavaScript heap, checked every 250 ms: above it a full garbage collection runs (0 = leave it to the runtime)" },
  { name: "quiet", type: "bool", default: false, help: "no progress bars or summary table: only the final 'session <id>: ... results in <dir>' line (and reject reports on stderr)" },
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
    // Ctrl-C or a stop: the session is given up cleanly (the gateway told, partial files gone).
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const outcome = await runClient({ ...cfg, signal: stop.signal });
      for (const line of rejectReportLines(outcome.rejects.files())) process.stderr.write(`${line}\n`);
      for (const file of outcome.emptyFiles) process.stderr.write(`skipped: ${file}: empty file\n`);
      for (const note of outcome.datasetNotes) process.stderr.write(`warning: ${note}\n`);
      // --quiet is for scripts: the final line alone, which they parse for the results directory.
      if (!cfg.quiet) for (const line of renderSummary(outcome.progress, outcome.seconds)) process.stdout.write(`${line}\n`);
      // Rows read and rejected as `coffee reference` counts them; sent leaves out the reader's own rejects.
      process.stdout.write(`session ${outcome.session}: ${outcome.rowsRead} rows read, ${outcome.rejects.total} rejected, ${outcome.rowsSent} rows sent, ` +
        `${Math.round(outcome.rowsRead / outcome.seconds)} rows/s, ${outcome.seconds.toFixed(2)} s; results in ${outcome.dir}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`coffee client: ${codedMessage(err)}\n`);
      // The shell's convention for a process stopped by a signal: 128 + its number.
      if (err instanceof CoffeeError && err.code === "INTERRUPTED") return stop.signal.reason === "SIGTERM" ? 143 : 130;
      return exitCodeOf(err);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      governor.stop();
      health.close();
    }
  },
};
