/**
 * The gateway's sessions from start to end: started by a hello (or resumed), running while their
 * upload and results flow, finished once `done` is sent and kept until their client's bye, and
 * purged everywhere (aggregators, the log) when they fail, their client gives them up, or it
 * stays away longer than the TTL. Recovered from the log at startup. The connections they come
 * through are src/gatewayClients.ts's; this module only attaches and detaches them.
 */
import { randomUUID } from "node:crypto";
import { encodeMessage } from "./codec.ts";
import { CoffeeError, errorMessage } from "./errors.ts";
import { GATEWAY_STAGE, newSession as blankSession, allResultsComplete, uploadConfirmed, type Connection, type PurgeCause, type Session } from "./gatewaySession.ts";
import type { GatewayStore } from "./gatewayStore.ts";
import type { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import type { CoffeeMetrics } from "./metrics.ts";
import type { ClientMessage, GatewayMessage } from "./protocol.ts";
import type { ResultPump, ResultSink } from "./resultPump.ts";
import type { Entity } from "./schema.ts";
import { newResumeKey, resumeKeyMatches } from "./resumeKey.ts";
import { PURGE_KEY } from "./topology.ts";
import type { Transport } from "./transport.ts";
import { crashPoint } from "./crashPoint.ts";

/** The gateway options sessions live by. */
export interface SessionLimits {
  maxSessions: number;
  /** Told to each client in its welcome. */
  maxInFlight: number;
  /** Told to each client in its welcome. */
  heartbeatMs: number;
  /** Told to each client in its welcome, so that it cuts no batch the gateway would refuse. */
  maxBatchRows: number;
  /** How long a session whose client went away waits for it to resume before it is purged. */
  sessionTtlMs: number;
}

/** Session counters, shown in the gateway's status. */
export interface SessionCounters {
  sessionsStarted: number;
  sessionsResumed: number;
  sessionsFinished: number;
  sessionsPurged: number;
  /** Hellos refused for --max-sessions. */
  rejectedFull: number;
}

/** What the session lifecycle needs from the gateway around it. */
export interface GatewaySessionsDeps {
  limits: SessionLimits;
  store: GatewayStore;
  group: GroupCommit;
  transport: Transport;
  log: Logger;
  metrics: CoffeeMetrics;
  counters: SessionCounters;
  send(conn: Connection | null, msg: GatewayMessage): void;
  /** End `conn` for `err`, told to its client (a protocol error also purges its session). */
  fail(conn: Connection, err: unknown): void;
  /** Forget `conn` (closed, or replaced by its client's new one). */
  endConnection(conn: Connection): void;
  /** (Re)arm `conn`'s deadline for what its session now waits on. */
  armTimer(conn: Connection): void;
  /** A new session's result pump (src/resultRelay.ts). */
  newPump(id: string): ResultPump;
  /** Where `s`'s results go while `conn` is its client's connection (src/resultRelay.ts). */
  sinkOf(s: Session, conn: Connection): ResultSink;
  /** Read `s`'s (new) connection or not, as its byte share and the pipeline's backlog say (src/uploadPublisher.ts). */
  syncReading(s: Session): void;
  /** True once the gateway began shutting down: its log is closed, or closing. */
  stopping(): boolean;
  /** The log failed: the gateway must stop. */
  storageFailed(err: unknown): void;
}

/** The gateway's session registry and the rules by which its sessions start and end. */
export class GatewaySessions {
  /** Sessions running: their upload or their results are not over yet. Each holds a --max-sessions slot. */
  readonly running = new Map<string, Session>();
  /**
   * Sessions whose `done` was sent, until their client's `bye` says its files are committed (or
   * the TTL after it left without one): their results stay on disk for a resume meanwhile, but
   * they hold no --max-sessions slot.
   */
  readonly finished = new Map<string, Session>();

  constructor(private readonly deps: GatewaySessionsDeps) {}

  /** Sessions the log remembers: they wait for their clients to resume (or for the TTL). */
  recover(): void {
    const { store, log } = this.deps;
    for (const id of store.sessions.keys()) {
      const s = this.newSession(id);
      s.welcomed = true;
      s.recovered = true;
      // Every result stored: the aggregators are done with it, and only its client, which never
      // said bye, may still want them. It is finished: no --max-sessions slot, retired at the TTL.
      s.done = !store.damaged.has(id) && allResultsComplete(store.chunks(id));
      (s.done ? this.finished : this.running).set(id, s);
      const damage = store.damaged.get(id);
      if (damage) log.error(`${damage}: its client will get WAL_CORRUPT when it resumes`);
    }
    if (this.running.size + this.finished.size > 0) log.info(`recovered ${this.running.size + this.finished.size} session(s) awaiting their clients (${this.finished.size} with every result)`);
  }

  /** Publish again the purges a crash cut short; an aggregator that already has one ignores it (the session ended). */
  republishPurges(): void {
    const { store, log } = this.deps;
    if (store.pendingPurges.size > 0) log.info(`publishing ${store.pendingPurges.size} purge(s) the broker had not confirmed before the restart`);
    for (const [id, reason] of store.pendingPurges) this.publishPurge(id, reason);
  }

  /**
   * Clients can connect: the TTL of recovered sessions runs from now, when their clients can
   * first come back. A broker slow to answer at startup must not expire them.
   */
  awaitClients(): void {
    for (const s of this.all()) if (!s.conn && !s.ttlTimer) this.detach(s);
  }

  /** Stop every session's TTL timer (the gateway shuts down). */
  stopTimers(): void {
    for (const s of this.all()) if (s.ttlTimer) clearTimeout(s.ttlTimer);
  }

  /** The registered session `id`, running or finished (one purged or retired is not). */
  known(id: string): Session | undefined {
    return this.running.get(id) ?? this.finished.get(id);
  }

  /** True while `s` is registered, running or finished: one purged or retired has nothing left to keep. */
  holds(s: Session): boolean {
    return this.known(s.id) === s;
  }

  /**
   * A new session for a hello on `conn`; its client is welcomed once it is in the log. `keyed`:
   * the client keeps a resume key, which its welcome names and every resume must bring back.
   */
  start(conn: Connection, keyed = false): Session {
    const { limits, counters, metrics, store, log, group, send } = this.deps;
    if (this.running.size >= limits.maxSessions) {
      counters.rejectedFull++;
      // Sessions whose clients left (killed, say) keep their slot for a resume: say so, or a full
      // gateway with nobody uploading makes no sense.
      const away = [...this.running.values()].filter((s) => s.conn === null).length;
      const awayNote = away > 0 ? `; ${away} of them wait for their client to come back, up to --session-ttl-s (${limits.sessionTtlMs / 1000} s) each` : "";
      throw new CoffeeError("SESSION_LIMIT", `server full: ${this.running.size} of ${limits.maxSessions} sessions in use (the gateway's --max-sessions${awayNote}), try again later`);
    }
    const s = this.newSession(randomUUID());
    s.conn = conn;
    this.running.set(s.id, s);
    conn.session = s;
    // A new session is at no byte share yet, but the pipeline's backlog may be held.
    this.deps.syncReading(s);
    counters.sessionsStarted++;
    metrics.sessionsStarted.inc(GATEWAY_STAGE);
    const resumeKey = keyed ? newResumeKey() : null;
    store.open(s.id, resumeKey?.hash);
    log.info(`session ${s.id} started (${this.running.size}/${limits.maxSessions})`);
    // Registered durably before the client learns its id, so it can always resume it.
    group.after(() => {
      crashPoint("gateway.session-durable");
      if (conn.closed) return;
      s.welcomed = true;
      send(conn, { t: "welcome", session: s.id, maxInFlight: limits.maxInFlight, resumed: false, heartbeatMs: limits.heartbeatMs, maxBatchRows: limits.maxBatchRows, ...(resumeKey ? { key: resumeKey.key } : {}) });
    });
    return s;
  }

  /** Attach a resuming client's `conn` to its session; everything it did not see acknowledged comes again. */
  resume(conn: Connection, msg: Extract<ClientMessage, { t: "resume" }>): void {
    const { store, limits, log, counters, send } = this.deps;
    // Without its key a session is as unknown as one that never was: which ids exist is not told,
    // nor why one failed (its message may quote its rows).
    const known = this.known(msg.session);
    const s = resumeKeyMatches(store.keyHashOf(msg.session), msg.key) ? known : undefined;
    const failure = known ? null : store.failure(msg.session, Date.now());
    const failedWhileAway = failure && resumeKeyMatches(failure.keyHash, msg.key) ? failure : null;
    if (failedWhileAway) throw new CoffeeError(failedWhileAway.code, failedWhileAway.message);
    if (!s) throw new CoffeeError("SESSION_UNKNOWN", `session ${msg.session} is unknown here (finished, purged, or expired)`);
    if (s.done) {
      // Finished, but its client never said bye: it may lack results. Everything is sent again.
      this.finished.delete(s.id);
      this.running.set(s.id, s);
      s.done = false;
    }
    const old = s.conn;
    if (old && old !== conn) {
      this.deps.endConnection(old);
      // The client moved on: its old connection (half-open, say) must not hold a socket and buffers.
      old.writer.abort();
    }
    if (s.ttlTimer) clearTimeout(s.ttlTimer);
    s.ttlTimer = null;
    s.conn = conn;
    conn.session = s;
    // The client knows what it sent; everything it did not see acknowledged it sends again. Its
    // word replaces what an earlier resume said (a forged one would otherwise stick): an
    // end-of-stream it has no ack for comes again, and a repeated one is dropped downstream.
    s.nextSeq = new Map(Object.entries(msg.sent) as [Entity, number][]);
    s.eosCount.clear();
    s.eosConfirmed.clear();
    for (const e of msg.eos) {
      s.eosCount.set(e, msg.sent[e] ?? 0);
      s.eosConfirmed.add(e);
    }
    // Once its upload's state is known: a session past its upload is read whatever the backlog.
    this.deps.syncReading(s);
    counters.sessionsResumed++;
    // Not done before the client has sent again what it had not seen acknowledged.
    s.awaitingResend = true;
    log.info(`session ${s.id} resumed`);
    send(conn, { t: "welcome", session: s.id, maxInFlight: limits.maxInFlight, resumed: true, heartbeatMs: limits.heartbeatMs, maxBatchRows: limits.maxBatchRows });
    crashPoint("gateway.resumed");
    s.delivered.clear();
    // Every stored chunk again, in order; chunks arriving meanwhile queue up behind them.
    s.results.resend(this.deps.sinkOf(s, conn), store.chunks(s.id));
  }

  /**
   * A session is done once its connected client has every query's chunks and every batch and
   * end-of-stream was confirmed and acked: `done` must never overtake an ack.
   */
  maybeFinish(s: Session): void {
    if (s.done || !s.conn || s.awaitingResend || s.results.busy || s.inFlight > 0 || !uploadConfirmed(s) || !allResultsComplete(this.deps.store.chunks(s.id))) return;
    s.done = true;
    this.running.delete(s.id);
    this.finished.set(s.id, s);
    this.deps.send(s.conn, { t: "done" });
    crashPoint("gateway.done-sent");
    this.deps.log.info(`session ${s.id} finished: results sent`);
    // Written is not received: the session and its results stay until the client's bye.
    this.deps.armTimer(s.conn);
  }

  /** Drop a session everywhere: aggregators (purge message), the registry, the log; `cause` labels the purge metric. */
  purge(s: Session, reason: string, cause: PurgeCause): void {
    if (!this.running.has(s.id)) return;
    const { counters, metrics, log, store, group } = this.deps;
    if (s.ttlTimer) clearTimeout(s.ttlTimer);
    this.running.delete(s.id);
    // Nothing more goes to (or is read from) its client's connection on its behalf: a confirm
    // or result arriving now finds no connection.
    s.conn = null;
    counters.sessionsPurged++;
    metrics.sessionsPurged.inc({ ...GATEWAY_STAGE, cause });
    log.info(`session ${s.id} purged: ${reason}`);
    store.purge(s.id, reason);
    // Forgotten durably first: a gateway that crashes now must not bring the session back after
    // the aggregators already dropped it. Until the broker confirms the purge message, the log
    // keeps it pending, and a restarted gateway publishes it again.
    group.after(() => {
      crashPoint("gateway.purge-durable");
      this.publishPurge(s.id, reason);
    });
  }

  /**
   * End a running session for `err`: its client is told now if connected, else when it resumes
   * within the TTL (the log keeps why, across a restart too, rather than the client learning only
   * that its session is unknown).
   */
  failed(s: Session, err: CoffeeError): void {
    // Purged or closed already (a deadline that fired after an abort, say): nothing to keep.
    if (!this.holds(s)) return;
    // Kept whether or not a connection is there: the one the gateway holds may be dead already
    // (nothing is read from it while the session computes), and its client will resume.
    this.deps.store.failed(s.id, err.code, err.message, Date.now() + this.deps.limits.sessionTtlMs);
    if (s.conn) return this.deps.fail(s.conn, err);
    this.purge(s, `${err.code}: ${err.message}`, err.code);
  }

  /** The client is away: keep the session for `sessionTtlMs` so it can resume. */
  detach(s: Session): void {
    const { sessionTtlMs } = this.deps.limits;
    s.conn = null;
    if (s.ttlTimer) clearTimeout(s.ttlTimer);
    const gone = `client gone for more than ${sessionTtlMs / 1000} s`;
    // A finished session's aggregators are done with it already: only its stored results go.
    s.ttlTimer = setTimeout(() => (s.done ? this.retire(s, gone) : this.purge(s, gone, "TTL_EXPIRED")), sessionTtlMs);
  }

  /** Forget a finished session: its client has its files (or gave up on them). */
  retire(s: Session, reason: string): void {
    if (!this.finished.delete(s.id)) return;
    const { counters, metrics, log, store, group } = this.deps;
    // Counted here, not at `done`: a resumed session may be sent `done` twice.
    counters.sessionsFinished++;
    metrics.sessionsFinished.inc(GATEWAY_STAGE);
    if (s.ttlTimer) clearTimeout(s.ttlTimer);
    s.ttlTimer = null;
    log.info(`session ${s.id} closed: ${reason}`);
    store.close(s.id);
    group.after(() => this.compact());
  }

  /** Every registered session, running first. */
  private all(): Session[] {
    return [...this.running.values(), ...this.finished.values()];
  }

  private newSession(id: string): Session {
    return blankSession(id, this.deps.newPump(id));
  }

  /**
   * Compact the log if it grew long or holds nothing live; after every session that ends, however
   * it ends. A failed snapshot leaves the log unusable (the WAL takes no more writes), so it stops
   * the gateway as any log failure does, rather than at the next session's first record.
   */
  private compact(): void {
    void this.deps.store.maybeSnapshot().catch((err: unknown) => this.deps.storageFailed(err));
  }

  /** Tell the aggregators to drop a session; noted in the log once the broker has the message. */
  private publishPurge(id: string, reason: string): void {
    const { transport, store, log } = this.deps;
    transport.publish(PURGE_KEY, encodeMessage({ kind: "purge", session: id, reason })).then(
      // After shutdown the log is closed; the purge is then published again at the next start.
      () => {
        if (this.deps.stopping()) return;
        store.purgeConfirmed(id);
        this.compact();
      },
      (err) => log.error(`purge of ${id} not published (published again when the gateway restarts): ${errorMessage(err)}`),
    );
  }
}
