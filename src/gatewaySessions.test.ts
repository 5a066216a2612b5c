import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMessage } from "./codec.ts";
import { CoffeeError } from "./errors.ts";
import { uploadOver, type Connection, type Session } from "./gatewaySession.ts";
import { GatewaySessions, type SessionCounters } from "./gatewaySessions.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import { CoffeeMetrics } from "./metrics.ts";
import type { ClientMessage, GatewayMessage } from "./protocol.ts";
import { ResultPump, type ResultSink } from "./resultPump.ts";
import { ENTITIES, QUERIES } from "./schema.ts";
import type { Transport } from "./transport.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One turn of the event loop: what a confirm or a commit set off has run by then. */
const aTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A publish the test confirms by hand. */
interface PendingPublish { key: string; body: Uint8Array; confirm(): void }

/** A client connection as far as sessions touch it: what is sent to it is recorded by `send`. */
function connection(): Connection {
  return { closed: false, session: null, timer: null, writer: { abort() {} }, socket: { pause() {} } } as unknown as Connection;
}

async function harness(opts: { maxSessions?: number; sessionTtlMs?: number; store?: GatewayStore } = {}) {
  const store = opts.store ?? (await GatewayStore.open(null));
  const group = new GroupCommit(() => store.commit(), (err) => { throw err; });
  const published: PendingPublish[] = [];
  const transport: Transport = {
    declare: async () => {},
    close: async () => {},
    consume: () => { throw new Error("not used"); },
    publish: (key, body) => new Promise<void>((confirm) => { published.push({ key, body, confirm }); }),
  };
  const sent: [Connection | null, GatewayMessage][] = [];
  const failed: string[] = [];
  const armed: Connection[] = [];
  const ended: Connection[] = [];
  const logged: string[] = [];
  const loggedWaiters: [string, () => void][] = [];
  const log: Logger = {
    info: (m) => {
      logged.push(m);
      for (const [text, seen] of loggedWaiters) if (m.includes(text)) seen();
    },
    warn: (m) => void logged.push(m),
    error: (m) => void logged.push(m),
  };
  /** Resolves once a line containing `text` is logged. */
  const logs = (text: string): Promise<void> => new Promise((seen) => loggedWaiters.push([text, seen]));
  const resent: [string, number][] = [];
  const synced: string[] = [];
  const counters: SessionCounters = { sessionsStarted: 0, sessionsResumed: 0, sessionsFinished: 0, sessionsPurged: 0, rejectedFull: 0 };
  const metrics = new CoffeeMetrics({ role: "gateway", name: "gateway" });
  const sessions = new GatewaySessions({
    limits: { maxSessions: opts.maxSessions ?? 2, maxInFlight: 8, heartbeatMs: 1000, maxBatchRows: 100, sessionTtlMs: opts.sessionTtlMs ?? 60_000 },
    store, group, transport, log, counters, metrics,
    send: (conn, msg) => void sent.push([conn, msg]),
    fail: (conn, err) => void failed.push(`${conn.session?.id} ${err instanceof CoffeeError ? err.code : String(err)}`),
    endConnection: (conn) => void ended.push(conn),
    armTimer: (conn) => void armed.push(conn),
    newPump: (id) => new ResultPump((c) => store.chunkText(id, c), 1000, () => {}),
    sinkOf: (s) => ({
      live: true, hasRoom: true, written: 0, ready: async () => {},
      write: (c) => void resent.push([s.id, c.chunk]),
    }) satisfies ResultSink,
    // What the session's upload looked like each time its reading was brought in line.
    syncReading: (s) => void synced.push(`${s.id} ${uploadOver(s) ? "upload over" : "uploading"}`),
    stopping: () => false,
    storageFailed: (err) => { throw err; },
  });
  return { sessions, store, group, published, sent, failed, armed, ended, logged, logs, resent, counters, synced, metrics };
}

/** Mark `s`'s upload confirmed and store one last chunk of every query: all it waits for is done. */
function complete(store: GatewayStore, s: Session): void {
  for (const e of ENTITIES) s.eosConfirmed.add(e);
  for (const q of QUERIES) store.addChunk(s.id, { query: q, chunk: 0, last: true, csv: `${q}\n` });
}

describe("GatewaySessions", () => {
  test("a new session is welcomed only once it is in the log; past --max-sessions a hello is refused", async () => {
    const h = await harness({ maxSessions: 1 });
    const conn = connection();
    const s = h.sessions.start(conn);
    expect(conn.session).toBe(s);
    expect(h.store.sessions.has(s.id)).toBe(true);
    expect(h.sent).toEqual([]);
    await h.group.now();
    expect(s.welcomed).toBe(true);
    expect(h.sent).toEqual([[conn, { t: "welcome", session: s.id, maxInFlight: 8, resumed: false, heartbeatMs: 1000, maxBatchRows: 100 }]]);
    expect(() => h.sessions.start(connection())).toThrow(expect.objectContaining({ code: "SESSION_LIMIT" }));
    expect(h.counters).toMatchObject({ sessionsStarted: 1, rejectedFull: 1 });
  });

  test("a new or resumed connection is read or not as its session's upload stands, known before the check", async () => {
    const h = await harness();
    const s = h.sessions.start(connection());
    expect(h.synced).toEqual([`${s.id} uploading`]);
    await h.group.now();
    h.sessions.detach(s);
    // A client that saw every end-of-stream acked: its upload is over, and it must be read (its resent, its bye).
    const eos = ENTITIES.map((e) => e);
    h.sessions.resume(connection(), { t: "resume", v: 6, session: s.id, sent: Object.fromEntries(ENTITIES.map((e) => [e, 0])), eos });
    expect(h.synced).toEqual([`${s.id} uploading`, `${s.id} upload over`]);
    h.sessions.stopTimers();
  });

  test("a refusal for the limit says how many sessions only wait for their clients to come back", async () => {
    const h = await harness({ maxSessions: 2 });
    const gone = h.sessions.start(connection());
    h.sessions.start(connection());
    expect(() => h.sessions.start(connection())).toThrow("server full: 2 of 2 sessions in use (the gateway's --max-sessions), try again later");
    h.sessions.detach(gone);
    expect(() => h.sessions.start(connection())).toThrow("(the gateway's --max-sessions; 1 of them wait for their client to come back, up to --session-ttl-s (60 s) each)");
    h.sessions.stopTimers();
  });

  test("a client whose connection closed before the welcome is not welcomed", async () => {
    const h = await harness();
    const conn = connection();
    const s = h.sessions.start(conn);
    conn.closed = true;
    await h.group.now();
    expect(s.welcomed).toBe(false);
    expect(h.sent).toEqual([]);
  });

  test("done is sent once everything is confirmed and stored; the session then holds no slot until its bye", async () => {
    const h = await harness({ maxSessions: 1 });
    const conn = connection();
    const s = h.sessions.start(conn);
    h.sessions.maybeFinish(s);
    expect(s.done).toBe(false);
    complete(h.store, s);
    s.inFlight = 1;
    h.sessions.maybeFinish(s);
    // A batch awaiting its confirm: `done` must not overtake its ack.
    expect(s.done).toBe(false);
    s.inFlight = 0;
    h.sessions.maybeFinish(s);
    expect(s.done).toBe(true);
    expect(h.sent.at(-1)).toEqual([conn, { t: "done" }]);
    expect(h.armed).toEqual([conn]);
    expect(h.sessions.finished.get(s.id)).toBe(s);
    // Finished: another client may start.
    h.sessions.start(connection());
    h.sessions.retire(s, "its client has the results");
    expect(h.sessions.holds(s)).toBe(false);
    expect(h.counters.sessionsFinished).toBe(1);
    await h.group.now();
    expect(h.store.sessions.has(s.id)).toBe(false);
  });

  test("a purge is logged first and published once durable; the broker's confirm ends it in the log", async () => {
    const h = await harness();
    const s = h.sessions.start(connection());
    await h.group.now();
    h.sessions.purge(s, "its client gave it up", "ABORTED");
    expect(s.conn).toBeNull();
    expect(h.sessions.holds(s)).toBe(false);
    expect(h.store.pendingPurges.get(s.id)).toBe("its client gave it up");
    expect(h.published).toEqual([]);
    await h.group.now();
    expect(h.published).toHaveLength(1);
    expect(decodeMessage(h.published[0]!.body)).toEqual({ kind: "purge", session: s.id, reason: "its client gave it up" });
    h.published[0]!.confirm();
    await aTurn();
    expect(h.store.pendingPurges.size).toBe(0);
    expect(h.counters.sessionsPurged).toBe(1);
    // Once only: a second purge of the same session does nothing.
    h.sessions.purge(s, "again", "ABORTED");
    expect(h.counters.sessionsPurged).toBe(1);
    // The metric says why, by a label of few values.
    expect(await h.metrics.text()).toContain('coffee_sessions_purged_total{stage="gateway",cause="ABORTED",role="gateway",name="gateway"} 1\n');
  });

  test("a failed session's client is told if connected; if away, the failure waits for its resume", async () => {
    const h = await harness();
    const here = h.sessions.start(connection());
    h.sessions.failed(here, new CoffeeError("PIPELINE_FAILED", "boom"));
    expect(h.failed).toEqual([`${here.id} PIPELINE_FAILED`]);
    const away = h.sessions.start(connection());
    h.sessions.detach(away);
    h.sessions.failed(away, new CoffeeError("PIPELINE_STALLED", "no result"));
    expect(h.sessions.holds(away)).toBe(false);
    expect(h.logged).toContain(`session ${away.id} purged: PIPELINE_STALLED: no result`);
    const resume: Extract<ClientMessage, { t: "resume" }> = { t: "resume", v: 1, session: away.id, sent: {}, eos: [] };
    expect(() => h.sessions.resume(connection(), resume)).toThrow(expect.objectContaining({ code: "PIPELINE_STALLED", message: "no result" }));
    expect(() => h.sessions.resume(connection(), { ...resume, session: "00000000-0000-4000-8000-000000000000" })).toThrow(expect.objectContaining({ code: "SESSION_UNKNOWN" }));
  });

  test("a failure of a session already purged (a deadline that fired after the client's abort) is neither kept nor told", async () => {
    const h = await harness();
    const aborted = h.sessions.start(connection());
    h.sessions.purge(aborted, "its client gave it up", "ABORTED");
    h.sessions.failed(aborted, new CoffeeError("CLIENT_IDLE", "nothing received"));
    expect(h.failed).toEqual([]);
    const resume: Extract<ClientMessage, { t: "resume" }> = { t: "resume", v: 1, session: aborted.id, sent: {}, eos: [] };
    expect(() => h.sessions.resume(connection(), resume)).toThrow(expect.objectContaining({ code: "SESSION_UNKNOWN" }));
  });

  test("a client away longer than the TTL: a running session is purged, a finished one retired", async () => {
    const h = await harness({ sessionTtlMs: 20 });
    const running = h.sessions.start(connection());
    const finished = h.sessions.start(connection());
    complete(h.store, finished);
    h.sessions.maybeFinish(finished);
    const purged = h.logs(`session ${running.id} purged: client gone for more than 0.02 s`);
    const retired = h.logs(`session ${finished.id} closed: client gone for more than 0.02 s`);
    h.sessions.detach(running);
    h.sessions.detach(finished);
    await Promise.all([purged, retired]);
    expect(h.sessions.running.size + h.sessions.finished.size).toBe(0);
  });

  test("a resume takes the session over from the old connection and sends every stored chunk again", async () => {
    const h = await harness();
    const old = connection();
    const s = h.sessions.start(old);
    complete(h.store, s);
    h.sessions.maybeFinish(s);
    expect(s.done).toBe(true);
    const conn = connection();
    h.sessions.resume(conn, { t: "resume", v: 1, session: s.id, sent: { stores: 3 }, eos: ["stores"] });
    // A finished session that never got its bye runs again until everything is sent again.
    expect(s.done).toBe(false);
    expect(h.sessions.running.get(s.id)).toBe(s);
    expect(h.ended).toEqual([old]);
    expect(s.conn).toBe(conn);
    expect(conn.session).toBe(s);
    expect(s.awaitingResend).toBe(true);
    expect(s.nextSeq).toEqual(new Map([["stores", 3]]));
    expect([...s.eosConfirmed]).toEqual(["stores"]);
    expect(h.sent.at(-1)).toEqual([conn, { t: "welcome", session: s.id, maxInFlight: 8, resumed: true, heartbeatMs: 1000, maxBatchRows: 100 }]);
    await aTurn();
    expect(h.resent).toEqual(QUERIES.map((): [string, number] => [s.id, 0]));
    expect(h.counters.sessionsResumed).toBe(1);
  });

  test("recovered from the log: a session with every result is finished, the others run; unconfirmed purges go out again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coffee-sessions-"));
    dirs.push(dir);
    const before = await harness({ store: await GatewayStore.open(dir), maxSessions: 3 });
    const running = before.sessions.start(connection());
    const finished = before.sessions.start(connection());
    complete(before.store, finished);
    const purged = before.sessions.start(connection());
    await before.group.now();
    before.sessions.purge(purged, "its client gave it up", "ABORTED");
    await before.group.now();
    // Shut down before the broker confirmed the purge.
    await before.store.shutdown();

    const after = await harness({ store: await GatewayStore.open(dir), sessionTtlMs: 20 });
    after.sessions.recover();
    expect([...after.sessions.running.keys()]).toEqual([running.id]);
    expect([...after.sessions.finished.keys()]).toEqual([finished.id]);
    expect(after.sessions.running.get(running.id)?.welcomed).toBe(true);
    // Its progress counts start at this recovery (coffee status marks it so); a new session's do not.
    expect(after.sessions.running.get(running.id)?.recovered).toBe(true);
    expect(before.sessions.running.get(running.id)?.recovered).toBe(false);
    after.sessions.republishPurges();
    expect(after.published.map((p) => decodeMessage(p.body))).toEqual([{ kind: "purge", session: purged.id, reason: "its client gave it up" }]);
    // Their TTL runs only once clients can come back.
    const expired = after.logs(`session ${finished.id} closed`);
    after.sessions.awaitClients();
    await expired;
    after.sessions.stopTimers();
    await after.group.now();
    await after.store.shutdown();
  });
  test("a keyed session resumes only with its key, across a restart too; one without a key by its id, as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coffee-sessions-"));
    dirs.push(dir);
    const before = await harness({ store: await GatewayStore.open(dir), maxSessions: 3 });
    const owner = connection();
    const keyed = before.sessions.start(owner, true);
    const unkeyed = before.sessions.start(connection());
    await before.group.now();
    const welcomes = before.sent.map(([, m]) => m).filter((m) => m.t === "welcome");
    const key = welcomes[0]?.t === "welcome" ? welcomes[0].key : undefined;
    expect(key).toMatch(/^[\w-]{22}$/);
    expect(welcomes[1]).not.toHaveProperty("key");
    // Only a hash is logged: the key itself is nowhere in the gateway's log or output.
    expect(before.logged.join("\n")).not.toContain(key!);
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    expect(files.some((e) => readFileSync(join(e.parentPath, e.name)).includes(key!))).toBe(false);
    await before.store.shutdown();

    const h = await harness({ store: await GatewayStore.open(dir), maxSessions: 3 });
    h.sessions.recover();
    const resume = (session: string, extra: { key?: string } = {}): void => h.sessions.resume(connection(), { t: "resume", v: 1, session, sent: {}, eos: [], ...extra });
    // Without its key, or with another, the session is as unknown as a made-up one, and untouched.
    for (const wrong of [{}, { key: "A".repeat(22) }]) {
      expect(() => resume(keyed.id, wrong)).toThrow(expect.objectContaining({ code: "SESSION_UNKNOWN" }));
    }
    expect(h.counters.sessionsResumed).toBe(0);
    expect(h.sessions.running.get(keyed.id)?.conn).toBeNull();
    resume(keyed.id, { key: key! });
    resume(unkeyed.id);
    expect(h.counters.sessionsResumed).toBe(2);
    h.sessions.stopTimers();
    await h.group.now();
    await h.store.shutdown();
  });
  test("why a keyed session failed while its client was away is told only with its key", async () => {
    const h = await harness();
    const away = h.sessions.start(connection(), true);
    await h.group.now();
    const welcome = h.sent.map(([, m]) => m).find((m) => m.t === "welcome");
    const key = welcome?.t === "welcome" ? welcome.key : undefined;
    h.sessions.detach(away);
    h.sessions.failed(away, new CoffeeError("PIPELINE_FAILED", "agg-q3 failed on row 'secret store'"));
    const resume = (extra: { key?: string }): void => h.sessions.resume(connection(), { t: "resume", v: 1, session: away.id, sent: {}, eos: [], ...extra });
    expect(() => resume({})).toThrow(expect.objectContaining({ code: "SESSION_UNKNOWN" }));
    expect(() => resume({ key: "A".repeat(22) })).toThrow(expect.objectContaining({ code: "SESSION_UNKNOWN" }));
    expect(() => resume({ key: key! })).toThrow(expect.objectContaining({ code: "PIPELINE_FAILED", message: "agg-q3 failed on row 'secret store'" }));
  });
});
