import { afterEach, beforeEach, describe, expect, jest, spyOn, test } from "bun:test";
import type { Socket } from "bun";
import { CoffeeError, WalError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./frame.ts";
import { GatewayClients, HANDSHAKE_FRAME_BYTES, REFUSAL_LOG_MS, REFUSED_LINGER_MS, type GatewayClientCounters, type GatewayClientLimits } from "./gatewayClients.ts";
import { newSession, type Connection, type Session } from "./gatewaySession.ts";
import { encodeProtocol, decodeGatewayMessage, PROTOCOL_VERSION, type ClientMessage, type GatewayMessage } from "./protocol.ts";
import { ResultPump } from "./resultPump.ts";
import { ENTITIES } from "./schema.ts";

const LIMITS: GatewayClientLimits = { maxHandshakes: 2, handshakeTimeoutMs: 500, idleTimeoutMs: 2_000, maxFrameBytes: 64 * 1024, maxOutboxBytes: 1 << 20, sessionTtlMs: 60_000, token: null };

/** A client's socket as the connections use it: what is written to it is decoded back into messages. */
class FakeSocket {
  data = undefined as unknown as Connection;
  readonly got: GatewayMessage[] = [];
  ended = false;
  private readonly frames = new FrameDecoder(1 << 20);
  write(bytes: Uint8Array): number {
    for (const f of this.frames.push(bytes)) this.got.push(decodeGatewayMessage(f));
    return bytes.length;
  }
  end(): void {
    this.ended = true;
  }
  terminated = false;
  terminate(): void {
    this.terminated = true;
  }
  pause(): void {}
  resume(): void {}
  get socket(): Socket<Connection> {
    return this as unknown as Socket<Connection>;
  }
}

const frame = (msg: ClientMessage): Uint8Array => encodeFrame(encodeProtocol(msg));
const HELLO = frame({ t: "hello", v: PROTOCOL_VERSION });

function harness(limits: Partial<GatewayClientLimits> = {}) {
  const sent: [Connection | null, GatewayMessage][] = [];
  const warned: string[] = [];
  const purged: string[] = [];
  const detached: string[] = [];
  const checked: number[] = [];
  const storageFailures: unknown[] = [];
  const counters: GatewayClientCounters = { refusedHandshakes: 0 };
  const state = { paused: false, halted: false, resumeFails: false, holds: true, full: false, sessions: 0, eos: (_s: Session): void => {} };
  /** Session failures kept for a later resume, as `id CODE`. */
  const kept: string[] = [];
  const attach = (conn: Connection): Session => {
    const s = newSession(`s${++state.sessions}`, new ResultPump(() => { throw new Error("not used"); }, 1000, () => {}));
    s.conn = conn;
    s.welcomed = true;
    conn.session = s;
    return s;
  };
  const connections = new GatewayClients({
    limits: { ...LIMITS, ...limits },
    log: { info: () => {}, warn: (m) => void warned.push(m), error: () => {} },
    counters,
    governor: { check: (bytes) => void checked.push(bytes ?? -1) },
    sessions: {
      start: (conn) => {
        if (state.full) throw new CoffeeError("SESSION_LIMIT", "server full: 1 of 1 sessions in use");
        return attach(conn);
      },
      resume: (conn) => {
        attach(conn);
        // Attached, then failed (a resume whose resends do not add up, say).
        if (state.resumeFails) throw new CoffeeError("SESSION_UNKNOWN", "resume failed after the attach");
      },
      holds: () => state.holds,
      // As GatewaySessions does: a purged session has no connection any more.
      purge: (s, reason) => {
        purged.push(`${s.id} ${reason}`);
        s.conn = null;
      },
      // As GatewaySessions does: the failure kept for a resume, then the connection failed.
      failed: (s, err) => {
        kept.push(`${s.id} ${err.code}`);
        if (s.conn) connections.fail(s.conn, err);
      },
      detach: (s) => void detached.push(s.id),
      retire: () => {},
      maybeFinish: () => {},
    },
    upload: { batch: () => {}, eos: (s) => state.eos(s), isPaused: () => state.paused },
    send: (conn, msg) => void sent.push([conn, msg]),
    storageFailed: (err) => void storageFailures.push(err),
    halted: () => state.halted,
  });
  /** A client that connected. */
  const connect = (): FakeSocket => {
    const socket = new FakeSocket();
    connections.accept(socket.socket);
    return socket;
  };
  /** A client that connected and said hello: its connection has a session. */
  const connectSession = (): FakeSocket => {
    const socket = connect();
    connections.received(socket.socket, HELLO);
    return socket;
  };
  /** Errors sent to `socket`'s connection, as `CODE message`. */
  const errorsTo = (socket: FakeSocket): string[] => sent.flatMap(([c, m]) => (c === socket.data && m.t === "error" ? [`${m.code} ${m.message}`] : []));
  return { connections, counters, state, sent, warned, purged, detached, checked, storageFailures, kept, connect, connectSession, errorsTo };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe("GatewayClients", () => {
  test("hellos refused for --max-sessions are each told SESSION_LIMIT, and logged at most once a minute with how many", () => {
    const h = harness();
    h.state.full = true;
    const first = h.connectSession();
    expect(h.errorsTo(first)).toEqual(["SESSION_LIMIT server full: 1 of 1 sessions in use"]);
    expect(h.warned).toEqual(["closing connection: SESSION_LIMIT server full: 1 of 1 sessions in use"]);
    // Clients waiting for a slot ask again every few seconds: each is told, the log is not...
    jest.advanceTimersByTime(REFUSAL_LOG_MS - 10);
    const again = [h.connectSession(), h.connectSession()];
    for (const s of again) expect(h.errorsTo(s)).toEqual(["SESSION_LIMIT server full: 1 of 1 sessions in use"]);
    expect(h.warned).toHaveLength(1);
    // ...until the minute is over: then once, with how many, even if no more come.
    jest.advanceTimersByTime(10);
    expect(h.warned).toEqual([
      "closing connection: SESSION_LIMIT server full: 1 of 1 sessions in use",
      "closing connection: SESSION_LIMIT server full: 1 of 1 sessions in use (2 connections closed for SESSION_LIMIT in the minute since the last such line, which is said at most once a minute)",
    ]);
    jest.advanceTimersByTime(10 * REFUSAL_LOG_MS);
    expect(h.warned).toHaveLength(2);
    // A minute after that line, the next is said at once.
    h.connectSession();
    expect(h.warned).toHaveLength(3);
  });

  test("over --max-handshakes a connection is told CONNECTION_LIMIT, does not count, and is let go after its linger", () => {
    // Handshakes that outlast the minute below.
    const h = harness({ handshakeTimeoutMs: 10 * REFUSAL_LOG_MS });
    h.connect();
    h.connect();
    const refused = h.connect();
    expect(refused.got).toEqual([{ t: "error", code: "CONNECTION_LIMIT", message: "gateway busy: 2 connections have yet to say hello (its --max-handshakes); try again later" }]);
    expect(h.connections.handshaking).toBe(2);
    expect(h.counters.refusedHandshakes).toBe(1);
    // Told once, and not again for a minute however many more come.
    h.connect();
    expect(h.warned).toEqual(["refusing new connections: 2 have yet to say hello (--max-handshakes 2); 1 refused so far"]);
    // Its client hangs up first as a rule; one that does not is closed after the linger.
    const end = spyOn(refused.data.writer, "end").mockImplementation(async () => {});
    jest.advanceTimersByTime(REFUSED_LINGER_MS - 1);
    expect(end).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(end).toHaveBeenCalledWith(REFUSED_LINGER_MS);
    // Its close frees no handshake it never held.
    h.connections.socketClosed(refused.socket);
    expect(h.connections.handshaking).toBe(2);
    // One whose client hangs up within the linger is not ended again after it; nor is a refused
    // connection among those a halt cuts.
    const hungUp = h.connect();
    const lingerEnd = spyOn(hungUp.data.writer, "end").mockImplementation(async () => {});
    const abort = spyOn(hungUp.data.writer, "abort");
    h.connections.socketClosed(hungUp.socket);
    jest.advanceTimersByTime(REFUSED_LINGER_MS);
    expect(lingerEnd).not.toHaveBeenCalled();
    // A refusal after the minute is said again.
    jest.advanceTimersByTime(REFUSAL_LOG_MS);
    h.connect();
    expect(h.warned).toHaveLength(2);
    expect(h.counters.refusedHandshakes).toBe(4);
    h.connections.cutAll();
    expect(abort).not.toHaveBeenCalled();
  });

  test("a hello raises the frame limit and ends the handshake once, however the connection ends", () => {
    const h = harness();
    const socket = h.connect();
    expect(socket.data.decoder.maxFrameBytes).toBe(HANDSHAKE_FRAME_BYTES);
    expect(h.connections.handshaking).toBe(1);
    h.connections.received(socket.socket, HELLO);
    expect(socket.data.session?.id).toBe("s1");
    expect(socket.data.decoder.maxFrameBytes).toBe(LIMITS.maxFrameBytes);
    expect(h.connections.handshaking).toBe(0);
    // Counted: the frame's bytes, before it was decoded.
    expect(h.checked).toEqual([HELLO.length - 4]);
    h.connections.socketClosed(socket.socket);
    expect(h.connections.handshaking).toBe(0);
    expect(h.detached).toEqual(["s1"]);
  });

  test("a resume that attached its session and then failed ends its handshake once", () => {
    const h = harness();
    h.state.resumeFails = true;
    const socket = h.connect();
    h.connections.received(socket.socket, frame({ t: "resume", v: PROTOCOL_VERSION, session: "old", sent: {}, eos: [] }));
    expect(h.errorsTo(socket)).toEqual(["SESSION_UNKNOWN resume failed after the attach"]);
    expect(socket.data.closed).toBe(true);
    expect(h.connections.handshaking).toBe(0);
  });

  test("a hello refused (its protocol version) ends its handshake once", () => {
    const h = harness();
    const socket = h.connect();
    h.connections.received(socket.socket, frame({ t: "hello", v: PROTOCOL_VERSION + 1 }));
    expect(h.errorsTo(socket)).toHaveLength(1);
    expect(socket.data.closed).toBe(true);
    expect(h.connections.handshaking).toBe(0);
  });

  test("frames after one whose handling ended the connection are not handled, even in the same read", () => {
    const h = harness();
    const socket = h.connectSession();
    const handled: string[] = [];
    h.state.eos = (s) => {
      handled.push(s.id);
      h.connections.endConnection(socket.data);
    };
    const eos = frame({ t: "eos", entity: "stores", count: 0 });
    h.connections.received(socket.socket, new Uint8Array([...eos, ...eos]));
    expect(handled).toEqual(["s1"]);
  });

  test("before its hello a connection may send no frame over HANDSHAKE_FRAME_BYTES", () => {
    const h = harness();
    const socket = h.connect();
    const big = new Uint8Array(4);
    new DataView(big.buffer).setUint32(0, HANDSHAKE_FRAME_BYTES + 1);
    h.connections.received(socket.socket, big);
    expect(h.errorsTo(socket)).toEqual([`FRAME_TOO_LARGE frame of ${HANDSHAKE_FRAME_BYTES + 1} bytes exceeds the limit of ${HANDSHAKE_FRAME_BYTES} bytes (before its hello, a client's frames are small)`]);
    expect(h.connections.handshaking).toBe(0);
  });

  test("a frame that does not decode ends its connection alone, and purges its session", () => {
    const h = harness();
    const bad = h.connectSession();
    const good = h.connectSession();
    const garbage = encodeFrame(encodeProtocol({ t: "nonsense" } as unknown as ClientMessage));
    h.connections.received(bad.socket, garbage);
    expect(h.errorsTo(bad)).toEqual(['FRAME_MALFORMED unknown client message type "nonsense"']);
    expect(bad.data.closed).toBe(true);
    expect(h.purged).toEqual(['s1 FRAME_MALFORMED: unknown client message type "nonsense"']);
    // Counted though it did not decode.
    expect(h.checked.at(-1)).toBe(garbage.length - 4);
    expect(h.errorsTo(good)).toEqual([]);
    expect(good.data.closed).toBe(false);
    // Bytes after the failure are not read, not even a header over the limit.
    const big = new Uint8Array(4);
    new DataView(big.buffer).setUint32(0, LIMITS.maxFrameBytes + 1);
    h.connections.received(bad.socket, big);
    expect(h.checked).toHaveLength(3);
    expect(h.purged).toHaveLength(1);
  });

  test("no hello within the handshake timeout is HANDSHAKE_TIMEOUT, logged at most once a minute (port scanners come in numbers)", () => {
    const h = harness();
    const socket = h.connect();
    jest.advanceTimersByTime(LIMITS.handshakeTimeoutMs - 1);
    expect(h.sent).toEqual([]);
    jest.advanceTimersByTime(1);
    const told = `HANDSHAKE_TIMEOUT no hello within ${LIMITS.handshakeTimeoutMs} ms`;
    expect(h.errorsTo(socket)).toEqual([told]);
    expect(h.connections.handshaking).toBe(0);
    expect(h.warned).toEqual([`closing connection: ${told}`]);
    const more = [h.connect(), h.connect()];
    jest.advanceTimersByTime(LIMITS.handshakeTimeoutMs);
    for (const s of more) expect(h.errorsTo(s)).toEqual([told]);
    expect(h.warned).toHaveLength(1);
    jest.advanceTimersByTime(REFUSAL_LOG_MS);
    expect(h.warned.at(-1)).toBe(`closing connection: ${told} (2 connections closed for HANDSHAKE_TIMEOUT in the minute since the last such line, which is said at most once a minute)`);
    // A count not yet said when the gateway stops is not said late.
    h.connect();
    jest.advanceTimersByTime(LIMITS.handshakeTimeoutMs);
    h.connections.cutAll();
    jest.advanceTimersByTime(REFUSAL_LOG_MS);
    expect(h.warned).toHaveLength(2);
    // Other failures are each said.
    const bad = h.connect();
    h.connections.received(bad.socket, new Uint8Array([0, 0, 0, 2, 0xc1, 0xc1]));
    expect(h.warned).toHaveLength(3);
    expect(h.warned.at(-1)).toContain("FRAME_MALFORMED");
  });

  test("a client not read because its session is paused is not CLIENT_IDLE; once read again, silence is", () => {
    const h = harness();
    const socket = h.connectSession();
    h.state.paused = true;
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 3);
    expect(h.errorsTo(socket)).toEqual([]);
    h.state.paused = false;
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs);
    expect(h.errorsTo(socket)).toEqual([`CLIENT_IDLE nothing received for ${LIMITS.idleTimeoutMs / 1000} s while the upload was incomplete`]);
    // Kept, so the client resuming later hears CLIENT_IDLE rather than SESSION_UNKNOWN.
    expect(h.kept).toEqual(["s1 CLIENT_IDLE"]);
  });

  test("each frame from a client still uploading puts its idle deadline off", () => {
    const h = harness();
    const socket = h.connectSession();
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs - 1);
    h.connections.received(socket.socket, frame({ t: "eos", entity: "stores", count: 0 }));
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs - 1);
    expect(h.sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(h.errorsTo(socket)).toHaveLength(1);
  });

  test("a client waiting for confirms is not idle, nor one whose upload is over", () => {
    const h = harness();
    const waiting = h.connectSession();
    const over = h.connectSession();
    waiting.data.session!.inFlight = 1;
    for (const e of ENTITIES) over.data.session!.eosCount.set(e, 0);
    h.connections.armTimer(over.data);
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 3);
    expect(h.sent).toEqual([]);
    expect(over.data.timer).toBeNull();
  });

  test("a client whose last end of stream came is not idle while it waits for results, however long", () => {
    const h = harness();
    // As the upload path does: each end of stream is counted as it is handled.
    h.state.eos = (s) => void s.eosCount.set(ENTITIES[s.eosCount.size]!, 0);
    const socket = h.connectSession();
    for (const e of ENTITIES) h.connections.received(socket.socket, frame({ t: "eos", entity: e, count: 0 }));
    expect(socket.data.timer).toBeNull();
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 10);
    expect(h.sent).toEqual([]);
    expect(h.kept).toEqual([]);
  });

  test("a deadline armed before the upload's last end of stream was counted does not fail the session when it fires", () => {
    const h = harness();
    const socket = h.connectSession();
    const s = socket.data.session!;
    h.connections.armTimer(socket.data);
    for (const e of ENTITIES) s.eosCount.set(e, 0);
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 3);
    expect(h.sent).toEqual([]);
    expect(socket.data.timer).toBeNull();
  });

  test("a resumed client whose upload was over still owes its resent: silent, it is CLIENT_IDLE; once it says it, it is not", () => {
    const h = harness();
    const silent = h.connectSession();
    const s = silent.data.session!;
    for (const e of ENTITIES) s.eosCount.set(e, 0);
    s.awaitingResend = true;
    h.connections.armTimer(silent.data);
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs);
    expect(h.errorsTo(silent)).toEqual([`CLIENT_IDLE nothing received for ${LIMITS.idleTimeoutMs / 1000} s while its resends after a resume were incomplete`]);
    const said = h.connectSession();
    const t = said.data.session!;
    for (const e of ENTITIES) t.eosCount.set(e, 0);
    t.awaitingResend = true;
    h.connections.armTimer(said.data);
    h.connections.received(said.socket, frame({ t: "resent" }));
    expect(said.data.timer).toBeNull();
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 3);
    expect(h.errorsTo(said)).toEqual([]);
  });

  test("past its descriptor budget a connection is closed at once, unanswered, said once a minute; a closed one makes room", () => {
    const h = harness({ maxSockets: 2, maxHandshakes: 1 });
    const first = h.connectSession();
    // One yet to say hello holds a descriptor too.
    const waiting = h.connect();
    const refused = h.connect();
    expect(h.errorsTo(refused)).toEqual([]);
    expect(refused.got.map((m) => m.t)).toEqual([]);
    expect(refused.terminated).toBe(true);
    const again = h.connect();
    expect(again.terminated).toBe(true);
    expect(h.warned.filter((w) => w.startsWith("closing new connections unanswered"))).toEqual([
      "closing new connections unanswered: 2 client sockets are open, all this gateway's open-file limit leaves them (ulimit -n; --max-handshakes and --max-sessions above what it allows?); 1 closed so far",
    ]);
    for (const s of [refused, again]) h.connections.socketClosed(s.socket);
    h.connections.socketClosed(first.socket);
    // Room for one more: taken normally.
    const next = h.connect();
    expect(next.terminated).toBe(false);
    expect(waiting.terminated).toBe(false);
  });

  test("after done, a client that never says bye is let go after the idle timeout", () => {
    const h = harness();
    const socket = h.connectSession();
    socket.data.session!.done = true;
    h.connections.armTimer(socket.data);
    const end = spyOn(socket.data.writer, "end").mockImplementation(async () => {});
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs);
    expect(end).toHaveBeenCalledWith(LIMITS.idleTimeoutMs);
    expect(h.sent).toEqual([]);
  });

  test("fail: a halted gateway tells nobody; a log failure stops the gateway; a client too slow is cut off at once", () => {
    const h = harness();
    const a = h.connect();
    h.state.halted = true;
    h.connections.fail(a.data, new CoffeeError("CLIENT_IDLE", "x"));
    expect(h.sent).toEqual([]);
    expect(a.data.closed).toBe(false);
    h.state.halted = false;
    const walFailure = new WalError("WAL_IO_FAILED", "disk gone");
    h.connections.fail(a.data, walFailure);
    expect(h.storageFailures).toEqual([walFailure]);
    expect(a.data.closed).toBe(false);
    const abort = spyOn(a.data.writer, "abort");
    const end = spyOn(a.data.writer, "end").mockImplementation(async () => {});
    h.connections.fail(a.data, new CoffeeError("CLIENT_TOO_SLOW", "reads nothing"));
    expect(abort).toHaveBeenCalled();
    expect(end).not.toHaveBeenCalled();
    expect(h.errorsTo(a)).toEqual(["CLIENT_TOO_SLOW reads nothing"]);
  });

  test("a client too slow is purged as such, even though its socket's close runs inside the abort", () => {
    const h = harness();
    const a = h.connectSession();
    // Bun runs the listener's close handler synchronously inside terminate().
    spyOn(a.data.writer, "abort").mockImplementation(() => h.connections.socketClosed(a.socket));
    h.connections.fail(a.data, new CoffeeError("CLIENT_TOO_SLOW", "reads nothing"));
    expect(h.purged).toEqual(["s1 CLIENT_TOO_SLOW: reads nothing"]);
    expect(h.detached).toEqual([]);
  });

  test("a failed connection whose session is done is let go, its session kept for a resume (its results are still wanted)", () => {
    const h = harness();
    const a = h.connectSession();
    a.data.session!.done = true;
    h.connections.fail(a.data, new CoffeeError("CLIENT_TOO_SLOW", "reads nothing"));
    expect(h.purged).toEqual([]);
    expect(h.detached).toEqual(["s1"]);
  });

  test("a client that aborts its session and keeps the connection open is not failed later as CLIENT_IDLE", () => {
    const h = harness();
    const socket = h.connectSession();
    const end = spyOn(socket.data.writer, "end").mockImplementation(async () => {});
    h.connections.received(socket.socket, frame({ t: "abort" }));
    expect(h.purged).toEqual(["s1 its client gave it up"]);
    expect(end).toHaveBeenCalledWith(LIMITS.idleTimeoutMs);
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 2);
    expect(h.kept).toEqual([]);
    expect(h.errorsTo(socket)).toEqual([]);
  });

  test("a frame after the session ended (an end of stream after its abort) is a protocol violation, not published for it", () => {
    const h = harness();
    const socket = h.connectSession();
    const published: string[] = [];
    h.state.eos = (s) => void published.push(s.id);
    spyOn(socket.data.writer, "end").mockImplementation(async () => {});
    h.connections.received(socket.socket, frame({ t: "abort" }));
    // As GatewaySessions says once it purged the session.
    h.state.holds = false;
    h.connections.received(socket.socket, frame({ t: "eos", entity: "stores", count: 0 }));
    expect(published).toEqual([]);
    expect(h.errorsTo(socket)).toEqual(["PROTOCOL_VIOLATION eos after session s1 ended"]);
    jest.advanceTimersByTime(LIMITS.idleTimeoutMs * 2);
    expect(h.kept).toEqual([]);
  });

  test("a connection whose session was purged or retired already leaves nothing to keep when it closes", () => {
    const h = harness();
    const a = h.connectSession();
    h.state.holds = false;
    h.connections.socketClosed(a.socket);
    expect(h.detached).toEqual([]);
    expect(h.purged).toEqual([]);
  });

  test("heartbeats go to connections whose session is open, saying when the broker is held", () => {
    const h = harness();
    const open = h.connectSession();
    const done = h.connectSession();
    h.connect(); // still in its handshake
    done.data.session!.done = true;
    h.connections.heartbeat(false);
    h.connections.heartbeat(true);
    expect(h.sent).toEqual([[open.data, { t: "heartbeat" }], [open.data, { t: "heartbeat", brokerHeld: true }]]);
  });

  test("endAll lets sessions wait for a resume; cutAll cuts every connection and leaves sessions alone", () => {
    const h = harness();
    h.connectSession();
    h.connect();
    h.connections.endAll();
    expect(h.detached).toEqual(["s1"]);
    expect(h.connections.handshaking).toBe(0);
    // Ended is ended: no deadline of theirs fires later (a HANDSHAKE_TIMEOUT on a closed connection).
    jest.advanceTimersByTime(10 * LIMITS.idleTimeoutMs);
    const b = h.connectSession();
    h.connect();
    expect(h.connections.handshaking).toBe(1);
    const abort = spyOn(b.data.writer, "abort");
    h.connections.cutAll();
    expect(h.connections.handshaking).toBe(0);
    expect(abort).toHaveBeenCalled();
    expect(b.data.closed).toBe(true);
    expect(h.detached).toEqual(["s1"]);
    // Cut connections are gone: no heartbeat reaches them.
    h.connections.heartbeat(false);
    expect(h.sent).toEqual([]);
  });
});
