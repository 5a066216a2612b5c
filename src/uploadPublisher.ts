/**
 * The gateway's upload path: each client batch is checked against the session's sequence and the
 * limits, typed, published with a confirm, and acknowledged to its client only once the broker
 * confirmed it. Bounded per session by --max-in-flight (batches) and across sessions by a fair
 * share of --max-in-flight-bytes (src/fairBudget.ts): a session at its share is not read, so
 * its client sees ordinary TCP backpressure while the others go on. Past the confirms, the
 * pipeline's queues bound it too (--max-backlog, src/backlogGate.ts): while one is too deep, no
 * uploading session is read.
 */
import { BacklogGate, BLIND_HOLD_MS, type GateVerdict } from "./backlogGate.ts";
import { BodyArena } from "./bodyArena.ts";
import { encodeMessage } from "./codec.ts";
import { crashPoint } from "./crashPoint.ts";
import { parseEntityRows } from "./entityBatch.ts";
import { CoffeeError, ProtocolError } from "./errors.ts";
import { FairBudget } from "./fairBudget.ts";
import { GATEWAY_STAGE, uploadOver, type Connection, type Session } from "./gatewaySession.ts";
import type { CoffeeMetrics } from "./metrics.ts";
import type { ClientMessage, GatewayMessage } from "./protocol.ts";
import { dataKey, eosKey } from "./topology.ts";
import type { Transport } from "./transport.ts";

/** The gateway options the upload path enforces. */
export interface UploadLimits {
  maxInFlight: number;
  maxInFlightBytes: number;
  maxBatchRows: number;
  /** A row with a longer field (UTF-8 bytes) is rejected, like a malformed one. */
  maxFieldBytes: number;
  /** Ready messages in a pipeline queue at which uploads stop being read (0: no bound). */
  maxBacklog: number;
}

/** Upload counters, shown in the gateway's status. */
export interface UploadCounters {
  rowsIn: number;
  rowsRejected: number;
  /** Times a session reached its share of --max-in-flight-bytes and stopped being read. */
  readPauses: number;
  /** Times a pipeline queue passed --max-backlog and every upload stopped being read. */
  backlogHolds: number;
}

/** What the upload path needs from the gateway around it. */
export interface UploadDeps {
  limits: UploadLimits;
  transport: Transport;
  metrics: CoffeeMetrics;
  counters: UploadCounters;
  send(conn: Connection | null, msg: GatewayMessage): void;
  /** A publish failed: end the session's connection with the error. */
  fail(conn: Connection, err: unknown): void;
  /** Something the session waited for was confirmed: it may be done now. */
  maybeFinish(s: Session): void;
  /** The running sessions, whose connections a backlog hold stops reading. */
  sessions(): Iterable<Session>;
  /** The pipeline's queues (unprefixed names) whose depth --max-backlog bounds. */
  pipelineQueues: ReadonlySet<string>;
  /** Uploads were held on their credit: poll the queue depths now rather than at the next interval. */
  wantDepths(): void;
  /** `conn` is read again after a pause: its idle deadline starts afresh (time unread is not idleness). */
  readAgain(conn: Connection): void;
  warn(message: string): void;
}

type BatchMessage = Extract<ClientMessage, { t: "batch" }>;
type EosMessage = Extract<ClientMessage, { t: "eos" }>;


/** Publishes sessions' batches and end-of-stream markers with confirms. */
export class UploadPublisher {
  /** Encoded batch bytes awaiting the broker's confirm, per session. */
  private readonly budget: FairBudget<Session>;
  /** Typed columns of the batch being published (one batch at a time: frames are handled synchronously). */
  private readonly columnArena = new BodyArena();
  /** Held while a pipeline queue is too deep (src/backlogGate.ts). */
  private readonly gate: BacklogGate;
  /**
   * Sessions that published since the gate last let uploads go. A hold stops only these: each
   * other uploading session is read until it publishes (what one read of its socket holds, a
   * batch or a few small ones), so that every session moves at each release. Without it the
   * session whose socket was read first after a release filled the credit again each time, and
   * a small session started behind a big one waited for the big one's whole upload (measured
   * with --max-backlog 4: 30 s for one row).
   */
  private publishedSinceRelease = new WeakSet<Session>();

  constructor(private readonly deps: UploadDeps) {
    this.budget = new FairBudget<Session>(deps.limits.maxInFlightBytes);
    // A transport that cannot tell depths could never release a hold.
    this.gate = new BacklogGate(deps.transport.queueDepths ? deps.limits.maxBacklog : 0, deps.pipelineQueues);
  }

  /**
   * True while `s`'s connection must not be read: it is at its share of the byte budget, or it is
   * uploading while the pipeline's backlog is held and it published since the last release (a
   * session past its upload is read for its bye).
   */
  isPaused(s: Session): boolean {
    return this.budget.isPaused(s) || (this.gate.held && !uploadOver(s) && this.publishedSinceRelease.has(s));
  }

  /**
   * Whether uploads are held for the pipeline's backlog; its deepest queue at the last poll, the
   * publishes since that the gate counts on top, and the gate's bound (--max-backlog).
   */
  backlog(): { held: boolean; deepest: { queue: string; messages: number } | null; unpolled: number; bound: number } {
    const d = this.gate.deepest;
    return { held: this.gate.held, deepest: d && { queue: d.queue, messages: d.messages }, unpolled: this.gate.unpolled, bound: this.gate.bound };
  }

  /** A poll of the broker's queue depths is starting. */
  depthsPollStarting(): void {
    this.gate.pollStarting();
  }

  /** The depths that poll read (null: the broker did not answer). */
  depthsPolled(depths: Parameters<BacklogGate["polled"]>[0]): void {
    this.onGate(this.gate.polled(depths));
    if (this.gate.takeBlindRelease()) {
      this.deps.warn(`uploads held for the pipeline's backlog are read again: the broker's queue depths could not be read for ${BLIND_HOLD_MS / 1000} s (said once until a poll is answered again; meanwhile holds are let go at the next failed poll)`);
    }
  }

  /**
   * Pause or resume reading `s`'s connection so that it matches isPaused(s), whatever changed
   * (its byte share, the backlog gate, its upload ending, a new connection). Every change goes
   * through here, so no path can leave a connection paused that nothing would resume.
   */
  syncReading(s: Session): void {
    const conn = s.conn;
    if (!conn || conn.closed) return;
    const pause = this.isPaused(s);
    if (pause === conn.readPaused) return;
    conn.readPaused = pause;
    if (pause) {
      conn.socket.pause();
    } else {
      conn.socket.resume();
      this.deps.readAgain(conn);
    }
  }

  /** Check, type and publish one client batch; acked to the client once confirmed. */
  batch(s: Session, msg: BatchMessage): void {
    const { limits, counters, metrics } = this.deps;
    const next = s.nextSeq.get(msg.entity) ?? 0;
    const eosCount = s.eosCount.get(msg.entity);
    // seq below `next` is a resend after a resume: published again, dropped downstream by lineage.
    if (msg.seq > next || (msg.seq === next && eosCount !== undefined)) {
      throw new ProtocolError(`batch ${msg.entity}#${msg.seq} out of order (expected #${next}${eosCount !== undefined ? ", after end-of-stream" : ""})`);
    }
    // Clients are told maxInFlight: new batches not yet acknowledged count against it. Resends
    // (after a resume) do not: the client sends them before it reads the acks already on their
    // way, so counting them could refuse a client that keeps to its window. The fair byte
    // budget still bounds what they hold here.
    const resend = msg.seq < next;
    const batchKey = `${msg.entity}#${msg.seq}`;
    if (resend && !s.awaitingResend) throw new ProtocolError(`batch ${msg.entity}#${msg.seq} sent again outside a resume`);
    // A new batch amid the resends would be read twice (new now, a resend later) and counted twice.
    if (!resend && s.awaitingResend) throw new ProtocolError(`new batch ${msg.entity}#${msg.seq} before the resends of a resume were done`);
    if (!resend && s.unacked.size >= limits.maxInFlight) throw new ProtocolError(`more than ${limits.maxInFlight} unacknowledged batches`);
    if (msg.lines.length > limits.maxBatchRows) throw new CoffeeError("LIMIT_EXCEEDED", `batch of ${msg.lines.length} rows exceeds the gateway's limit of ${limits.maxBatchRows} (its --max-batch-rows; lower the client's --batch-rows)`);
    if (!resend) {
      s.nextSeq.set(msg.entity, next + 1);
      s.unacked.add(batchKey);
    }
    // The body lives until encodeMessage below has copied it: the arena is reused by the next batch.
    this.columnArena.reset();
    const { body, rejected, reasons } = parseEntityRows(msg.entity, msg.columns, msg.lines.length, this.columnArena, limits.maxFieldBytes);
    // Rows are counted once, in when the gateway first reads the batch and out when its first copy
    // is confirmed; a resend counts only if the batch was lost before (or the gateway restarted).
    const countIn = msg.seq >= (s.readBelow.get(msg.entity) ?? 0);
    if (countIn) s.readBelow.set(msg.entity, msg.seq + 1);
    if (resend && countIn) s.uncounted.add(batchKey);
    if (countIn) {
      counters.rowsIn += msg.lines.length;
      counters.rowsRejected += rejected.length;
      metrics.rowsIn.inc({ ...GATEWAY_STAGE, entity: msg.entity }, msg.lines.length);
      metrics.rowsRejected.inc({ entity: msg.entity }, rejected.length);
    }
    const bytes = encodeMessage({ kind: "data", session: s.id, entity: msg.entity, seq: msg.seq, bodyKind: msg.entity, body });
    // The callback keeps only small values: `msg`'s text columns are views of the frame decoder's
    // buffer, which a later frame overwrites (src/frame.ts); `bytes` is the batch's own copy.
    const { entity, seq } = msg;
    const rows = msg.lines.length;
    const rejectedLines = rejected.map((r) => msg.lines[r]!);
    this.publishConfirmed(s, dataKey(entity), bytes, () => {
      crashPoint("gateway.batch-confirmed");
      const first = s.unacked.delete(batchKey) || s.uncounted.delete(batchKey);
      if (first) {
        s.rowsAcked.set(entity, (s.rowsAcked.get(entity) ?? 0) + rows);
        s.movedAtMs = performance.now();
        metrics.batches.inc(GATEWAY_STAGE);
        metrics.rowsOut.inc(GATEWAY_STAGE, rows - rejectedLines.length);
      }
      // A resend is always acked: the first copy's ack may have gone to a connection that is
      // gone (the client ignores a second ack). A new batch whose resend was confirmed first
      // was acked by it.
      if (first || resend) this.deps.send(s.conn, { t: "ack", entity, seq, rejected: rejectedLines, ...(reasons.length > 0 ? { reasons } : {}) });
    }, bytes.length);
  }

  /** Publish one entity's end-of-stream; acked to the client once confirmed. */
  eos(s: Session, msg: EosMessage): void {
    const known = s.eosCount.get(msg.entity);
    if (known !== undefined && known !== msg.count) throw new ProtocolError(`end-of-stream of ${msg.entity} said ${known} batches, now ${msg.count}`);
    const sent = s.nextSeq.get(msg.entity) ?? 0;
    if (msg.count !== sent) throw new ProtocolError(`end-of-stream of ${msg.entity} says ${msg.count} batches, ${sent} were sent`);
    s.eosCount.set(msg.entity, msg.count);
    if (uploadOver(s)) {
      // Upload over: the connection now only waits for results and needs no batch-sized buffers,
      // and is read whatever the backlog (its bye).
      s.conn?.decoder.release();
      this.syncReading(s);
    }
    this.publishConfirmed(s, eosKey(msg.entity), encodeMessage({ kind: "eos", session: s.id, entity: msg.entity, count: msg.count }), () => {
      crashPoint("gateway.eos-confirmed");
      s.eosConfirmed.add(msg.entity);
      s.movedAtMs = performance.now();
      this.deps.send(s.conn, { t: "eos-ack", entity: msg.entity });
    });
  }

  /** Publish for `s`; `then` runs once the broker confirmed. `weight` bytes count against its share meanwhile. */
  private publishConfirmed(s: Session, key: string, bytes: Uint8Array, then: () => void, weight = 0): void {
    s.inFlight++;
    this.weigh(s, weight);
    this.publishedSinceRelease.add(s);
    const verdict = this.gate.publish();
    this.onGate(verdict);
    if (verdict === "hold") this.deps.wantDepths();
    // Its one message during a hold: it waits for the release from now on.
    else if (this.gate.held) this.syncReading(s);
    const settled = (): void => {
      s.inFlight--;
      this.gate.settled();
      this.weigh(s, -weight);
    };
    this.deps.transport.publish(key, bytes).then(
      () => {
        settled();
        then();
        this.deps.maybeFinish(s);
      },
      (err) => {
        settled();
        if (s.conn) this.deps.fail(s.conn, err);
      },
    );
  }

  /** Pause or resume reading `s`'s connection as its bytes cross its share. */
  private weigh(s: Session, delta: number): void {
    const verdict = this.budget.weigh(s, delta);
    if (verdict === "pause") this.deps.counters.readPauses++;
    if (verdict !== null) this.syncReading(s);
  }

  /** Stop or go on reading every uploading session as the backlog gate says. */
  private onGate(verdict: GateVerdict): void {
    if (verdict === null) return;
    if (verdict === "hold") this.deps.counters.backlogHolds++;
    else this.publishedSinceRelease = new WeakSet();
    for (const s of this.deps.sessions()) this.syncReading(s);
  }
}
