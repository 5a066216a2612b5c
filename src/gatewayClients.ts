/**
 * The gateway's client connections (the client's side is src/gatewayConnection.ts): accepted,
 * refused over --max-handshakes, held to a deadline (handshake, then idleness while the upload is
 * incomplete, then the bye after done), read frame by frame and dispatched to the session
 * lifecycle (src/gatewaySessions.ts) or the upload path (src/uploadPublisher.ts), and ended. The
 * listening socket is the role's (roles/gateway.ts): its open, data, drain and close handlers
 * call accept, received, drained and closed here.
 */
import type { Socket } from "bun";
import { CoffeeError, ProtocolError, errorMessage, isWalWriteFailure } from "./errors.ts";
import { FrameDecoder, writeFrame } from "./frame.ts";
import { uploadOver, type Connection, type Session } from "./gatewaySession.ts";
import type { GatewaySessions } from "./gatewaySessions.ts";
import { checkProtocolVersion, checkToken } from "./handshake.ts";
import { LogThrottle } from "./logThrottle.ts";
import type { HeapGovernor } from "./heapGovernor.ts";
import type { Logger } from "./log.ts";
import { decodeClientMessage, encodeProtocolTransient, type ClientMessage, type GatewayMessage } from "./protocol.ts";
import { SocketWriter } from "./socketWriter.ts";
import type { UploadPublisher } from "./uploadPublisher.ts";

/**
 * Largest frame before a connection has a session, whatever --max-frame-bytes says: a hello or
 * resume is at most about 3.2 KiB (a token is at most 1024 characters, up to 3 bytes each in
 * UTF-8). Each connection buffers one partial frame, so without this an unauthenticated
 * connection could hold --max-frame-bytes (16 MiB) for the handshake timeout, and a few hundred
 * of them gigabytes.
 */
export const HANDSHAKE_FRAME_BYTES = 8 * 1024;

/** How often connections refused for --max-handshakes are logged while they go on. */
export const REFUSAL_LOG_MS = 60_000;

/**
 * Connection failures logged at most once a minute, with a count: each is routine and may come
 * in numbers. SESSION_LIMIT: clients waiting for a slot (--wait-for-slot-s) ask again every few
 * seconds. HANDSHAKE_TIMEOUT: port scanners and health probes that connect and say nothing.
 */
const QUIETED_CODES: ReadonlySet<string> = new Set(["SESSION_LIMIT", "HANDSHAKE_TIMEOUT"]);

/** How long a refused connection is left for its client to hang up (see refuseConnection). */
export const REFUSED_LINGER_MS = 1_000;

/** The gateway options its connections live by. */
export interface GatewayClientLimits {
  /** Connections at once that have not yet said hello (or resumed); one more is refused at once. */
  maxHandshakes: number;
  /** A connection must say hello (or resume) within this long. */
  handshakeTimeoutMs: number;
  /** Idleness allowed while uploading, after done before the bye, and for an error or a bye to be read. */
  idleTimeoutMs: number;
  /** Largest frame once a connection has a session. */
  maxFrameBytes: number;
  /** Result bytes queued in memory for one client. */
  maxOutboxBytes: number;
  /** How long a session whose client went away waits for it (said in the log when it leaves). */
  sessionTtlMs: number;
  /** Shared secret clients must present (null: none required). */
  token: string | null;
  /**
   * Client sockets open at once, refused ones included (src/openFileLimit.ts); one past it is
   * closed unanswered, so the gateway never runs out of descriptors. Default: no bound.
   */
  maxSockets?: number;
}

/** Connection counters, shown in the gateway's status. */
export interface GatewayClientCounters {
  /** Connections refused for --max-handshakes. */
  refusedHandshakes: number;
}

/** What the connections need from the gateway around them. */
export interface GatewayClientsDeps {
  /** The gateway options connections are held to. */
  limits: GatewayClientLimits;
  /** Where refusals, failures and departures are said. */
  log: Logger;
  /** Counted here, shown in the gateway's status. */
  counters: GatewayClientCounters;
  /** The process's heap governor, which counts every received frame. */
  governor?: Pick<HeapGovernor, "check">;
  /** The session lifecycle a hello, resume, bye, abort or departure acts on. */
  sessions: Pick<GatewaySessions, "start" | "resume" | "holds" | "purge" | "failed" | "detach" | "retire" | "maybeFinish">;
  /** The upload path batches and ends of stream go to. */
  upload: Pick<UploadPublisher, "batch" | "eos" | "isPaused">;
  /** Write `msg` to `conn` unless it is gone or closed. */
  send: (conn: Connection | null, msg: GatewayMessage) => void;
  /** The log failed: the gateway must stop. */
  storageFailed(err: unknown): void;
  /** True once the gateway halted after a storage failure. */
  halted(): boolean;
}

/** The gateway's open client connections and the rules by which they are read and ended. */
export class GatewayClients {
  /** Connections accepted and not ended (a refused one never is among them). */
  private readonly open = new Set<Connection>();
  /** Connections in `open` without a session yet (bounded by --max-handshakes). */
  private handshakes = 0;
  /** Refused connections: a flood of them is said once a minute, not once each. */
  private readonly refusalLog = new LogThrottle(REFUSAL_LOG_MS);
  /** Client sockets accepted and not yet closed, refused ones included. */
  private sockets = 0;
  private readonly shedLog = new LogThrottle(REFUSAL_LOG_MS);
  private shed = 0;
  /** Per code of QUIETED_CODES: when a close for it was last logged, those not logged since (the last of them, how many), and the timer that will say them. */
  private readonly quieted = new Map<string, { toldMs: number; untold: number; last: string; timer: ReturnType<typeof setTimeout> | null }>();

  constructor(private readonly deps: GatewayClientsDeps) {}

  /** Connections that have yet to say hello (or resume). */
  get handshaking(): number {
    return this.handshakes;
  }

  /** A client connected (the listener's `open`): it is refused, or its handshake deadline runs. */
  accept(socket: Socket<Connection>): void {
    const { limits } = this.deps;
    const conn: Connection = { socket, decoder: new FrameDecoder(HANDSHAKE_FRAME_BYTES, "before its hello, a client's frames are small"), writer: new SocketWriter(socket, limits.maxOutboxBytes), session: null, closed: false, timer: null, readPaused: false };
    socket.data = conn;
    this.sockets++;
    if (this.sockets > (limits.maxSockets ?? Infinity)) return this.shedConnection(conn);
    if (this.handshakes >= limits.maxHandshakes) return this.refuseConnection(conn);
    this.handshakes++;
    this.open.add(conn);
    this.armTimer(conn);
  }

  /** Bytes from a client (the listener's `data`): each complete frame is handled in order. */
  received(socket: Socket<Connection>, data: Uint8Array): void {
    const conn = socket.data;
    if (conn.closed) return;
    try {
      for (const frame of conn.decoder.push(data)) {
        if (conn.closed) return;
        this.onFrame(conn, frame);
      }
    } catch (err) {
      this.fail(conn, err);
    }
  }

  /** The client's socket takes bytes again (the listener's `drain`). */
  drained(socket: Socket<Connection>): void {
    socket.data.writer.drain();
  }

  /** The client's socket closed (the listener's `close`). */
  socketClosed(socket: Socket<Connection>): void {
    const conn = socket.data;
    this.sockets--;
    conn.writer.close();
    // A refused connection (closed already, never in `open`) has its linger timer.
    if (conn.closed && conn.timer) clearTimeout(conn.timer);
    this.endConnection(conn);
  }

  /** End `conn` for `err`, told to its client; a protocol error also purges its session. */
  fail(conn: Connection, err: unknown): void {
    const { limits, log, sessions } = this.deps;
    // The log could not take a record: this gateway can no longer promise anything to anyone.
    if (isWalWriteFailure(err)) return this.deps.storageFailed(err);
    // Halted: a publish settling now has nobody left to tell, and the log takes nothing more.
    if (this.deps.halted()) return;
    // Anything not raised on purpose is our fault, not the client's: said so, with the stack in our log.
    const code = err instanceof CoffeeError ? err.code : "INTERNAL";
    if (code === "INTERNAL") log.error(`internal error on a client connection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    const closing = `closing connection${conn.session ? ` of session ${conn.session.id}` : ""}: ${code} ${errorMessage(err)}`;
    if (QUIETED_CODES.has(code)) this.tellQuieted(code, closing);
    else log.warn(closing);
    this.deps.send(conn, { t: "error", code, message: errorMessage(err) });
    // A protocol error is final for the session: its client will not resume it. Purged before
    // the connection ends (a terminated socket's close runs at once), which would otherwise
    // keep it for a resume under the wrong reason.
    const s = conn.session;
    if (s && !s.done) sessions.purge(s, `${code}: ${errorMessage(err)}`, code);
    // A client dropped for reading nothing would not read the error either: cut off at once.
    if (code === "CLIENT_TOO_SLOW") conn.writer.abort();
    else void conn.writer.end(limits.idleTimeoutMs);
    this.endConnection(conn);
  }

  /**
   * Log `line` for a connection closed for `code` (one of QUIETED_CODES): at once if none was
   * logged in the last minute; otherwise counted, and said with the count once that minute is over.
   */
  private tellQuieted(code: string, line: string): void {
    const q = this.quieted.get(code) ?? { toldMs: -Infinity, untold: 0, last: "", timer: null };
    this.quieted.set(code, q);
    const now = performance.now();
    if (now - q.toldMs >= REFUSAL_LOG_MS) {
      q.toldMs = now;
      return this.deps.log.warn(line);
    }
    q.untold++;
    q.last = line;
    if (q.timer === null) {
      q.timer = setTimeout(() => this.tellUntold(code), q.toldMs + REFUSAL_LOG_MS - now);
      // Never the reason the process stays up.
      q.timer.unref?.();
    }
  }

  /** Say the closes for `code` counted since its last line, with the last of them. */
  private tellUntold(code: string): void {
    const q = this.quieted.get(code);
    if (!q) return;
    q.timer = null;
    if (q.untold === 0) return;
    this.deps.log.warn(`${q.last} (${q.untold} connections closed for ${code} in the minute since the last such line, which is said at most once a minute)`);
    q.toldMs = performance.now();
    q.untold = 0;
  }

  /** (Re)arm the connection's deadline: handshake first, then idleness while it still owes data. */
  armTimer(conn: Connection): void {
    const { limits, upload } = this.deps;
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    if (conn.closed) return;
    const s = conn.session;
    if (!s) {
      conn.timer = setTimeout(() => this.fail(conn, new CoffeeError("HANDSHAKE_TIMEOUT", `no hello within ${limits.handshakeTimeoutMs} ms`)), limits.handshakeTimeoutMs);
    } else if (s.done) {
      // `done` is out: the client says bye once its files are committed. One that never does is
      // let go (its results stay for a resume until the TTL).
      conn.timer = setTimeout(() => void conn.writer.end(limits.idleTimeoutMs), limits.idleTimeoutMs);
    } else if (owesData(s)) {
      // A client we stopped reading is not idle: look again later.
      // Nor is one waiting for acks of batches the broker has yet to confirm (its window is full).
      // Failed as a session (the reason kept until the TTL): a client that comes back later is
      // told why its session is gone, not that it is unknown.
      // Judged when it fires: the frame that armed it may have been the upload's last end of
      // stream, after which the client owes nothing and waits for results (a pipeline that never
      // delivers them is PIPELINE_STALLED's to name, not the client's).
      conn.timer = setTimeout(() => {
        if (!owesData(s) || s.done) return this.armTimer(conn);
        if (upload.isPaused(s) || s.inFlight > 0) return this.armTimer(conn);
        const what = uploadOver(s) ? "its resends after a resume were incomplete" : "the upload was incomplete";
        this.deps.sessions.failed(s, new CoffeeError("CLIENT_IDLE", `nothing received for ${limits.idleTimeoutMs / 1000} s while ${what}`));
      }, limits.idleTimeoutMs);
    }
  }

  /** Forget `conn` (closed, or replaced by its client's new one); its session waits for a resume, or is purged if its client cannot know it. */
  endConnection(conn: Connection): void {
    const { limits, log, sessions } = this.deps;
    if (conn.closed) return;
    conn.closed = true;
    if (!conn.session) this.handshakes--;
    if (conn.timer) clearTimeout(conn.timer);
    this.open.delete(conn);
    const s = conn.session;
    // A session purged or retired already (a protocol error, a bye) has nothing left to keep.
    if (!s || s.conn !== conn || !sessions.holds(s)) return;
    if (!s.done && !s.welcomed) {
      // Its client never learned the id, so it cannot resume: free the --max-sessions slot now.
      sessions.purge(s, "client left before its welcome", "LEFT_BEFORE_WELCOME");
    } else {
      log.info(`session ${s.id}: client disconnected${s.done ? " after done without a bye" : ""}; keeping it ${limits.sessionTtlMs / 1000} s for a resume`);
      sessions.detach(s);
    }
  }

  /** Heartbeat every connection whose session is open (welcomed and not done), saying whether the broker is held. */
  heartbeat(brokerHeld: boolean): void {
    for (const conn of this.open) {
      const s = conn.session;
      if (s && s.conn === conn && s.welcomed && !s.done) this.deps.send(conn, brokerHeld ? { t: "heartbeat", brokerHeld: true } : { t: "heartbeat" });
    }
  }

  /** End every connection as a client leaving would (shutdown): sessions wait for a resume. */
  endAll(): void {
    for (const c of this.open) this.endConnection(c);
    this.stopQuietedTimers();
  }

  /** A stopped gateway logs no counts late. */
  private stopQuietedTimers(): void {
    for (const q of this.quieted.values()) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = null;
    }
  }

  /** Cut every connection at once, sessions untouched (the gateway halted): clients resume once a gateway is back. */
  cutAll(): void {
    for (const c of this.open) {
      c.closed = true;
      if (c.timer) clearTimeout(c.timer);
      c.writer.abort();
    }
    this.open.clear();
    // None is open, so none has yet to say hello: the halted gateway's status says so.
    this.handshakes = 0;
    this.stopQuietedTimers();
  }

  /**
   * Turn away a connection over --max-handshakes: each one still to say hello holds a socket and
   * a buffer, and without a bound a flood of them exhausts the process's descriptors.
   */
  private refuseConnection(conn: Connection): void {
    const { limits, log, counters } = this.deps;
    conn.closed = true;
    counters.refusedHandshakes++;
    if (this.refusalLog.due()) {
      log.warn(`refusing new connections: ${this.handshakes} have yet to say hello (--max-handshakes ${limits.maxHandshakes}); ${counters.refusedHandshakes} refused so far`);
    }
    writeFrame(conn.writer, encodeProtocolTransient({ t: "error", code: "CONNECTION_LIMIT", message: `gateway busy: ${this.handshakes} connections have yet to say hello (its --max-handshakes); try again later` }));
    // The client hangs up on reading it. Closing first, with its hello unread, would reset the
    // connection before the error arrived; a client that does not hang up is closed after a while.
    conn.timer = setTimeout(() => void conn.writer.end(REFUSED_LINGER_MS), REFUSED_LINGER_MS);
  }

  /**
   * Close a connection past the descriptor budget (maxSockets) at once, unanswered: an answer
   * would hold its descriptor while it lingers, and a flood of them is what the budget is
   * against. Its client sees the connection closed and tries again within its --connect-retry-s
   * (--reconnect-timeout-s when resuming).
   */
  private shedConnection(conn: Connection): void {
    const { log } = this.deps;
    conn.closed = true;
    this.shed++;
    if (this.shedLog.due()) {
      log.warn(`closing new connections unanswered: ${this.sockets - 1} client sockets are open, all this gateway's open-file limit leaves them (ulimit -n; --max-handshakes and --max-sessions above what it allows?); ${this.shed} closed so far`);
    }
    conn.writer.abort();
  }

  private hello(conn: Connection, msg: ClientMessage): void {
    const { limits, sessions } = this.deps;
    if (msg.t !== "hello" && msg.t !== "resume") throw new ProtocolError(`expected hello or resume, got ${msg.t}`);
    checkProtocolVersion(msg.v);
    checkToken(limits.token, msg.token);
    if (msg.t === "resume") sessions.resume(conn, msg);
    else sessions.start(conn, msg.keyed === true);
  }

  private onFrame(conn: Connection, frame: Uint8Array): void {
    const { limits, sessions, upload } = this.deps;
    // What clients send is most of the gateway's garbage (read chunks, columns, typed rows), far
    // more than it publishes: counted here, collections come before it piles up.
    this.deps.governor?.check(frame.length);
    const msg = decodeClientMessage(frame);
    if (!conn.session) {
      try {
        this.hello(conn, msg);
      } finally {
        // Counted once it has a session, even if the rest of a resume failed (then it ends too).
        if (conn.session) this.handshakes--;
      }
      // Batch-sized frames only from a connection with a session (token checked, slot taken).
      conn.decoder.maxFrameBytes = limits.maxFrameBytes;
      conn.decoder.limitNote = "the gateway's --max-frame-bytes; lower the client's --batch-bytes or --batch-rows";
      return this.armTimer(conn);
    }
    // Its session ended here (an abort, a bye): nothing more is published or failed for it.
    if (!sessions.holds(conn.session)) throw new ProtocolError(`${msg.t} after session ${conn.session.id} ended`);
    this.armTimer(conn);
    if (msg.t === "batch") upload.batch(conn.session, msg);
    else if (msg.t === "eos") {
      upload.eos(conn.session, msg);
      // The last one ends the client's idle deadline.
      this.armTimer(conn);
    }
    else if (msg.t === "resent") {
      if (!conn.session.awaitingResend) throw new ProtocolError("resent without a resume to end");
      conn.session.awaitingResend = false;
      this.armTimer(conn);
      sessions.maybeFinish(conn.session);
    } else if (msg.t === "bye") {
      if (!conn.session.done) throw new ProtocolError("bye before done");
      sessions.retire(conn.session, "its client has the results");
      void conn.writer.end(limits.idleTimeoutMs);
    } else if (msg.t === "abort") {
      const s = conn.session;
      if (s.done) sessions.retire(s, "its client gave it up");
      else sessions.purge(s, "its client gave it up", "ABORTED");
      // The session is gone: the idle deadline this frame armed must not fail it later as
      // CLIENT_IDLE (a failure record for a purged session, told to a resume of it) while its
      // client, done talking, keeps the connection open; the end below bounds the connection.
      if (conn.timer) clearTimeout(conn.timer);
      conn.timer = null;
      void conn.writer.end(limits.idleTimeoutMs);
    }
    else throw new ProtocolError(`unexpected ${msg.t} during a session`);
  }
}

/**
 * Whether the client still owes the gateway frames: the upload's end of stream for some entity,
 * or, after a resume, its word that it sent everything unacknowledged again (`resent`), which
 * the session's end waits for.
 */
function owesData(s: Session): boolean {
  return !uploadOver(s) || s.awaitingResend;
}
