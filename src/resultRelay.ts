/**
 * The gateway's result path: each result chunk from the aggregators is stored in the session's
 * log and spool, acked to the broker once durable, and handed to the session's result pump,
 * which writes it to the client's connection as fast as the client reads (the rest waits on
 * disk, src/resultPump.ts). A chunk that arrives twice (redelivery) is stored once.
 */
import { decodeMessage, sessionOfUndecodable, type FailedMessage, type StateLostMessage } from "./codec.ts";
import { crashPoint } from "./crashPoint.ts";
import { CoffeeError, DecodeError, ProtocolError, errorMessage, isWalWriteFailure } from "./errors.ts";
import { GATEWAY_STAGE, queryResultComplete, type Connection, type Session } from "./gatewaySession.ts";
import type { GatewayStore, StoredChunk } from "./gatewayStore.ts";
import type { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import type { CoffeeMetrics } from "./metrics.ts";
import type { GatewayMessage } from "./protocol.ts";
import { ResultPump, type PumpEvent, type ResultSink } from "./resultPump.ts";
import type { Delivery } from "./transport.ts";

/** What the result path needs from the gateway around it. */
export interface ResultRelayDeps {
  store: GatewayStore;
  group: GroupCommit;
  log: Logger;
  metrics: CoffeeMetrics;
  counters: { duplicateChunks: number };
  /** A client that takes no result for this long is dropped (CLIENT_TOO_SLOW). */
  idleTimeoutMs: number;
  /** The session `id` names while it still runs (its `done` not yet sent). */
  running(id: string): Session | undefined;
  /** Every session still running. */
  allRunning(): Iterable<Session>;
  /** The session `id` names, running or finished and awaiting its client's bye. */
  known(id: string): Session | undefined;
  send(conn: Connection | null, msg: GatewayMessage): void;
  fail(conn: Connection, err: unknown): void;
  /** End a running session for `err`: told to its client now if connected, else when it comes back; purged everywhere. */
  sessionFailed(s: Session, err: CoffeeError): void;
  maybeFinish(s: Session): void;
  /** The log or spool failed: the gateway must stop (it halts, or its process exits). */
  storageFailed(err: unknown): void;
}

/** Stores result chunks and relays them to their sessions' clients. */
export class ResultRelay {
  /** Each connection's sink, one object per connection: the pump tells sinks apart by identity. */
  private readonly sinks = new WeakMap<Connection, ResultSink>();

  constructor(private readonly deps: ResultRelayDeps) {}

  /** The results queue's handler: a chunk that cannot be handled is logged and dropped, a storage failure stops the process. */
  deliver(d: Delivery): void {
    try {
      this.relay(d);
    } catch (err) {
      // Unacked, the chunk comes back after the restart; acked, it would be lost.
      if (isWalWriteFailure(err)) return this.deps.storageFailed(err);
      // A result that does not decode is a poison like any other (src/sessionFailure.ts): its
      // session, when the envelope still names a running one, fails rather than waits for it.
      const id = err instanceof DecodeError ? sessionOfUndecodable(d.body) : null;
      const s = id === null ? undefined : this.deps.running(id);
      this.deps.log.error(`dropping result message${s ? ` of session ${s.id} (the session fails)` : ""}: ${errorMessage(err)}`);
      if (!s) return void d.ack();
      this.deps.sessionFailed(s, new CoffeeError("PIPELINE_FAILED", `a result message of this session could not be decoded (${errorMessage(err)}); the session was dropped`));
      this.deps.group.after(() => d.ack());
    }
  }

  /**
   * A session's result pump. Reading a chunk back changes nothing on disk and nothing waits on
   * its ack: a chunk the spool cannot give back (WAL_CORRUPT, a read error) fails that session's
   * connection, not the gateway, which would fail the same way after every revival.
   */
  newPump(id: string): ResultPump {
    const { store, log, storageFailed } = this.deps;
    return new ResultPump((c) => store.chunkText(id, c), this.deps.idleTimeoutMs, (sink, e) => {
      try {
        this.onPumpEvent(id, sink, e);
      } catch (err) {
        // Finishing a session writes to the log: its failure is the gateway's, as everywhere.
        if (isWalWriteFailure(err)) return storageFailed(err);
        log.error(`session ${id}: ${errorMessage(err)}`);
      }
    });
  }

  /** Where `s`'s results go while `conn` is its client's connection. */
  sinkOf(s: Session, conn: Connection): ResultSink {
    const known = this.sinks.get(conn);
    if (known) return known;
    const { running, send } = this.deps;
    const sink: ResultSink = {
      get live() { return s.conn === conn && !conn.closed && running(s.id) === s; },
      get hasRoom() { return conn.writer.hasRoom; },
      get written() { return conn.writer.written; },
      ready: () => conn.writer.ready(),
      write(c, csv) {
        send(conn, { t: "result", query: c.query, chunk: c.chunk, last: c.last, csv });
        s.delivered.set(c.query, (s.delivered.get(c.query) ?? 0) + 1);
        s.movedAtMs = performance.now();
        crashPoint("gateway.result-sent");
      },
    };
    this.sinks.set(conn, sink);
    return sink;
  }

  /** Store one result chunk durably, relay it if its client is here; ack it once durable. */
  private relay(d: Delivery): void {
    const { store, group, log, counters, metrics } = this.deps;
    const msg = decodeMessage(d.body);
    if (msg.kind === "failed") return this.sessionFailed(d, msg);
    if (msg.kind === "stateLost") return this.stateLost(d, msg);
    if (msg.kind !== "result") throw new ProtocolError(`unexpected ${msg.kind} message on the results queue`);
    const s = this.deps.known(msg.session);
    const stored = store.sessions.get(msg.session);
    if (!s || !stored) {
      log.warn(`result chunk ${msg.query}#${msg.chunk} for unknown or ended session ${msg.session} dropped`);
      return void d.ack();
    }
    const same = stored.chunks.find((c) => c.query === msg.query && c.chunk === msg.chunk);
    const differs = same !== undefined && !sameText(same, msg.last, msg.csv);
    // A query whose result is here whole, from one cut (a mix would have been caught as its
    // chunks came), has nothing to take from another: the copy is dropped, whatever its cut.
    const whole = queryResultComplete(stored.chunks, msg.query);
    if (whole && (!same || differs)) log.warn(`session ${msg.session}: result chunk ${msg.query}#${msg.chunk} of another cut dropped: this result is stored whole already`);
    if (!whole) {
      // A chunk past the query's last, a last before a chunk stored, or a chunk stored before
      // with other text belongs to another cut of the result: mixed with this one, incomplete,
      // it would repeat or drop rows. It should never come (an aggregator logs its cut before its
      // first chunk and republishes with it; an upgrade that reads a logged cut in another unit
      // would break that), and since an aggregator republishes a result from its first chunk,
      // comparing the copies the gateway holds catches every mix that would change the rows. The
      // session fails rather than deliver, or wait forever for, a result it cannot trust.
      const otherCut = stored.chunks.find((c) => c.query === msg.query && ((c.last && msg.chunk > c.chunk) || (msg.last && c.chunk > msg.chunk)));
      if (otherCut || differs) {
        const why = otherCut
          ? `result chunk ${msg.query}#${msg.chunk}${msg.last ? " (last)" : ""} contradicts the stored chunk #${otherCut.chunk}${otherCut.last ? " (last)" : ""}: two cuts of one result`
          : `result chunk ${msg.query}#${msg.chunk} came again with other text than the copy stored: two cuts of one result`;
        log.error(`session ${msg.session}: ${why}`);
        if (this.deps.running(msg.session) === s) this.deps.sessionFailed(s, new CoffeeError("PIPELINE_FAILED", `${why}; the session was dropped`));
        return void group.after(() => d.ack());
      }
    }
    if (whole || same) {
      counters.duplicateChunks++;
      metrics.duplicatesDropped.inc(GATEWAY_STAGE);
      // After the next commit, like the first copy: that copy's record may not be durable yet
      // (its ack waits for the same commit), and acking this one first could lose both.
      return void group.after(() => d.ack());
    }
    const added = store.addChunk(msg.session, { query: msg.query, chunk: msg.chunk, last: msg.last, csv: msg.csv });
    crashPoint("gateway.result-stored");
    s.movedAtMs = performance.now();
    group.after(() => d.ack());
    if (s.conn && added) s.results.offer(this.sinkOf(s, s.conn), added, msg.csv);
    this.deps.maybeFinish(s);
  }

  /**
   * A stage could not process one of the session's messages (src/sessionFailure.ts): its reports
   * cannot be exact, so it ends with PIPELINE_FAILED, told to its client if connected, and is
   * purged everywhere. Acked once the purge is in the log, so a crash before cannot lose it.
   */
  private sessionFailed(d: Delivery, msg: FailedMessage): void {
    const s = this.deps.running(msg.session);
    if (!s) {
      this.deps.log.warn(`session ${msg.session} is not running here; a stage's failure report for it dropped: ${msg.reason}`);
      return void d.ack();
    }
    this.deps.sessionFailed(s, new CoffeeError("PIPELINE_FAILED", `a stage could not process this session's data (${msg.reason}); the session was dropped`));
    this.deps.group.after(() => d.ack());
  }

  /**
   * An aggregator set its unrecoverable log aside (src/aggregatorRecovery.ts): every running
   * session whose result for that query is not stored whole may have lost batches there, and
   * would wait for --result-timeout-s. Each fails now instead, as a poisoned session does; those
   * whose result is already here lose nothing. Acked once the failures are in the log.
   */
  private stateLost(d: Delivery, msg: StateLostMessage): void {
    const { store, log } = this.deps;
    const hit = [...this.deps.allRunning()].filter((s) => !queryResultComplete(store.chunks(s.id), msg.query));
    log.error(`the ${msg.query} aggregator lost its state (${msg.reason}): ${hit.length} running session(s) still waiting for its result fail`);
    for (const s of hit) {
      this.deps.sessionFailed(s, new CoffeeError("PIPELINE_FAILED", `the ${msg.query} aggregator lost this session's state (${msg.reason}); the session was dropped, run it again`));
    }
    this.deps.group.after(() => d.ack());
  }

  /** What a pump's report means for its session. */
  private onPumpEvent(id: string, sink: ResultSink, e: PumpEvent): void {
    const { log, fail } = this.deps;
    const s = this.deps.running(id);
    const conn = s?.conn;
    if (!s) return;
    switch (e.type) {
      case "drained":
        if (e.resent > 0) log.info(`session ${id}: ${e.resent} stored result chunk(s) sent again`);
        return this.deps.maybeFinish(s);
      case "stalled": {
        if (!conn || !sink.live) return;
        const tooSlow = new CoffeeError("CLIENT_TOO_SLOW", `client took none of its results for ${e.stallMs / 1000} s (${e.waiting} chunk(s) waiting)`);
        // As a session failure, kept for a resume: the error frame queued behind what the client
        // does not read is dropped with the connection, and its client, resuming, must still
        // learn why its session is gone rather than that it is unknown.
        if (s.done) return fail(conn, tooSlow);
        return this.deps.sessionFailed(s, tooSlow);
      }
      case "failed":
        if (conn && sink.live) fail(conn, e.error);
        else log.warn(`sending stored results of session ${id} failed after its connection closed: ${errorMessage(e.error)}`);
    }
  }
}

/**
 * Whether a chunk that came again matches the copy stored: its last flag, its UTF-8 length and
 * its CRC32 (refs logged by builds before the CRC are compared by length alone).
 */
function sameText(stored: StoredChunk, last: boolean, csv: string): boolean {
  if (stored.last !== last) return false;
  const bytes = Buffer.from(csv, "utf8");
  return bytes.length === stored.ref.length && (stored.ref.crc === undefined || Bun.hash.crc32(bytes) === stored.ref.crc);
}
