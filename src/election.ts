/**
 * Bully leader election among the monitors, with election terms, as a pure state machine: no
 * sockets, no timers, no clock reads. The caller feeds it messages (`receive`) and the passage of
 * time (`tick`, every few tens of ms), always passing `now` (ms, any monotonic origin), and carries
 * out the `ElectionAction`s it returns (send a message, log a leader change). The TCP layer that
 * drives it lives elsewhere; src/electionSim.ts drives it over a simulated network in tests.
 *
 * Rules (classic Bully plus terms):
 * - Ids are compared numerically. A node starting an election sends `election` to every higher
 *   id and waits `answerTimeoutMs`; with no `answer` it declares itself leader and sends
 *   `coordinator` to every peer. With an answer it waits `coordinatorTimeoutMs` for a
 *   coordinator, else starts over. The highest id waits `answerTimeoutMs` too (nobody can answer
 *   it), which gives a freshly restarted node time to hear the current leader's heartbeat and
 *   learn the current term before claiming one.
 * - A node receiving `election` from a lower id answers and, if it is a follower, starts its own
 *   election. The leader instead answers and re-sends its `coordinator` to that node (no new
 *   term when a follower merely missed heartbeats).
 * - The leader sends `heartbeat` to every peer every `heartbeatMs`; a follower that hears nothing
 *   from its leader for `leaderTimeoutMs` starts an election.
 * - Every message carries the sender's term. A higher term is adopted; a leader that adopts one
 *   steps down. A `coordinator`/`heartbeat` with a term lower than the receiver's is ignored and
 *   answered with one message carrying the receiver's term (its heartbeat if it leads, else an
 *   `election`) so that the stale leader learns the new term and steps down.
 * - A node receiving a current `coordinator`/`heartbeat` from a LOWER id bullies: it starts an
 *   election, which it wins with a higher term.
 *
 * Safety without a quorum. Bully must let a lone survivor lead, so a term cannot be protected by
 * a majority vote; instead the term space is partitioned among the peers: term `t` belongs to
 * `sortedPeers[t % peers.length]` (`termOwner`), and a node claims the smallest term it owns
 * that is above every term it has seen. Two nodes can therefore never claim the same term, not
 * even on the two sides of a partition (with "highest seen + 1" both sides would pick the same
 * number), and a node's own claims strictly increase. A `coordinator`/`heartbeat` whose term is
 * not owned by its sender is ignored. All monitors must be configured with the same `peers`.
 *
 * A message whose term is above MAX_TERM is ignored, and a node whose next term would pass it
 * does not lead (`cannot-lead`): past 2^53 `nextOwnedTerm` would compute one term for two
 * owners, and a term nobody else takes would leave it leading alone. Forged messages are kept
 * out by signing them (src/electionSeal.ts). Unsigned, `maxTermStep` bounds what one message may
 * add to a term this node holds, so that no single forged message reaches MAX_TERM; a node that
 * has heard no peer yet (restarted, remembering no term) adopts any term, or it could never
 * join a cluster whose term is far above zero.
 */
import { ConfigError } from "./errors.ts";

/** Configuration of one node's election state machine; all durations in ms. */
export interface ElectionOptions {
  /** This node's id. */
  id: number;
  /** Ids of all monitors, this node's included; the same list on every monitor. */
  peers: readonly number[];
  /** Interval between the leader's heartbeats. */
  heartbeatMs: number;
  /** A follower that hears nothing from its leader this long starts an election (≥ 2 × heartbeatMs). */
  leaderTimeoutMs: number;
  /** A candidate that gets no `answer` this long declares itself leader. */
  answerTimeoutMs: number;
  /** A candidate that was answered but gets no `coordinator` this long starts over. */
  coordinatorTimeoutMs: number;
  /**
   * A term known to have been used already (e.g. the highest one a fenced revival backend has
   * seen), so a monitor restarted with no memory claims terms above it. Default 0.
   */
  initialTerm?: number;
  /**
   * The most one message may raise a term this node holds (unsigned messages: MAX_TERM_STEP);
   * undefined: no bound below MAX_TERM (signed messages, which no stranger can forge).
   */
  maxTermStep?: number;
}

/** The largest rise in term coffee up's control API takes from one request: a million elections. */
export const MAX_TERM_STEP = 1_000_000;

/** The highest term a message may carry: far below 2^53, where term arithmetic stays exact. */
export const MAX_TERM = 2 ** 50;

/** What monitors send each other; every message carries the sender's current term. */
export type ElectionMessage =
  | { type: "election"; from: number; term: number }
  | { type: "answer"; from: number; term: number }
  | { type: "coordinator"; from: number; term: number }
  | { type: "heartbeat"; from: number; term: number };

const MESSAGE_TYPES: ReadonlySet<string> = new Set<ElectionMessage["type"]>(["election", "answer", "coordinator", "heartbeat"]);

/** Narrow a decoded wire value (e.g. parsed JSON) to an `ElectionMessage`; null if it is not one. */
export function toElectionMessage(value: unknown): ElectionMessage | null {
  if (typeof value !== "object" || value === null) return null;
  const { type, from, term } = value as Record<string, unknown>;
  if (typeof type !== "string" || !MESSAGE_TYPES.has(type)) return null;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(term) || (term as number) < 0) return null;
  return { type: type as ElectionMessage["type"], from: from as number, term: term as number };
}

/** What the caller must do (send) or may report (leadership changes) after a call. */
export type ElectionAction =
  | { type: "send"; to: number; message: ElectionMessage }
  /** This node became leader for `term`. */
  | { type: "leader"; term: number }
  /** This node acknowledges `leader` as the leader of `term`. */
  | { type: "follower"; leader: number; term: number }
  /** This node stopped being leader of `term` (it saw a higher term, or was paused too long). */
  | { type: "stepped-down"; term: number }
  /** This node would lead, but its next term would pass MAX_TERM (`term` is where it stands): it stays a follower. */
  | { type: "cannot-lead"; term: number };

/** Where a node stands in the election protocol. */
export type ElectionState = "follower" | "candidate" | "awaiting-coordinator" | "leader";

/** The peer that may lead term `term`: `sortedPeers[term % sortedPeers.length]` (ids sorted numerically). */
export function termOwner(sortedPeers: readonly number[], term: number): number {
  const owner = sortedPeers[term % sortedPeers.length];
  if (owner === undefined) throw new ConfigError("election: peers must not be empty");
  return owner;
}

/** How often to `tick` a node whose leader heartbeats every `heartbeatMs`: half of it, at most 50 ms. */
export function tickIntervalMs(heartbeatMs: number): number {
  return Math.max(1, Math.min(50, Math.floor(heartbeatMs / 2)));
}

/** The smallest term above `above` that belongs to the peer at position `rank` of `peerCount` sorted peers. */
export function nextOwnedTerm(above: number, rank: number, peerCount: number): number {
  const first = above + 1;
  return first + ((((rank - first) % peerCount) + peerCount) % peerCount);
}

function validate(opts: ElectionOptions): number[] {
  const sorted = [...opts.peers].sort((a, b) => a - b);
  for (const p of sorted) if (!Number.isSafeInteger(p)) throw new ConfigError(`election: peer id ${p} is not an integer`);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new ConfigError(`election: peer id ${sorted[i]} is listed twice`);
  if (!sorted.includes(opts.id)) throw new ConfigError(`election: own id ${opts.id} is not among the peers ${sorted.join(",")}`);
  for (const key of ["heartbeatMs", "leaderTimeoutMs", "answerTimeoutMs", "coordinatorTimeoutMs"] as const) {
    const v = opts[key];
    if (!Number.isFinite(v) || v <= 0) throw new ConfigError(`election: ${key} must be a positive number, got ${v}`);
  }
  // Heartbeats go out on ticks (`tickIntervalMs` apart), so up to 1.5 heartbeats apart; a timeout
  // closer than that would depose a leader that is merely waiting for its next tick.
  if (opts.leaderTimeoutMs < 2 * opts.heartbeatMs) throw new ConfigError(`election: leaderTimeoutMs (${opts.leaderTimeoutMs}) must be at least twice heartbeatMs (${opts.heartbeatMs})`);
  return sorted;
}

/**
 * One node's Bully election with terms (see the file comment for the rules). Construct it, call
 * `start` once at startup, then `receive` for every incoming message and `tick` periodically
 * (well under `heartbeatMs` apart); perform the returned actions in order.
 */
export class BullyElection {
  private readonly opts: ElectionOptions;
  private readonly sortedPeers: readonly number[];
  private readonly rank: number;
  private readonly higherPeers: readonly number[];
  private readonly otherPeers: readonly number[];
  private currentState: ElectionState = "follower";
  private currentTerm = 0;
  /** The acknowledged leader: own id when leading, the followed node when following, else null. */
  private currentLeader: number | null = null;
  /** When the pending timeout of the current state fires (answer, coordinator or leader timeout). */
  private deadline: number;
  /** Leader only: when the last coordinator/heartbeat round went out, and when the next one is due. */
  private lastHeartbeatAt = 0;
  private nextHeartbeatAt = 0;
  /** A peer's message was taken: from then on `maxTermStep` bounds what one message may add. */
  private heardPeer = false;

  constructor(opts: ElectionOptions, now: number) {
    this.sortedPeers = validate(opts);
    this.opts = { ...opts, peers: this.sortedPeers };
    this.rank = this.sortedPeers.indexOf(opts.id);
    this.higherPeers = this.sortedPeers.filter((p) => p > opts.id);
    this.otherPeers = this.sortedPeers.filter((p) => p !== opts.id);
    this.deadline = now + opts.leaderTimeoutMs;
    if (opts.initialTerm !== undefined && Number.isInteger(opts.initialTerm) && opts.initialTerm > 0) this.currentTerm = opts.initialTerm;
  }

  /** Where this node stands in the protocol. */
  get state(): ElectionState {
    return this.currentState;
  }

  /** The highest term this node has seen (0 before any). */
  get term(): number {
    return this.currentTerm;
  }

  /** The leader this node acknowledges for `term`: its own id when leading, null while electing or not knowing. */
  get leader(): number | null {
    return this.currentLeader;
  }

  /** This node's id. */
  get id(): number {
    return this.opts.id;
  }

  /**
   * True only while this node leads and, as far as it can know, its term is still current: it has
   * seen no higher term and its own heartbeats went out less than `leaderTimeoutMs` ago (a leader
   * that was paused longer may have been replaced; its next `tick` or `receive` steps it down).
   */
  isLeader(now: number): boolean {
    return this.currentState === "leader" && now - this.lastHeartbeatAt < this.opts.leaderTimeoutMs;
  }

  /** Begin an election (at startup). */
  start(now: number): ElectionAction[] {
    const actions: ElectionAction[] = [];
    this.startElection(now, actions);
    return actions;
  }

  /** Handle one message from a peer. Messages from unknown ids, from itself or with a malformed or out-of-range term are ignored. */
  receive(msg: ElectionMessage, now: number): ElectionAction[] {
    const actions: ElectionAction[] = [];
    if (msg.from === this.opts.id || !this.sortedPeers.includes(msg.from) || !Number.isSafeInteger(msg.term) || msg.term < 0) return actions;
    if (msg.term > MAX_TERM) return actions;
    const step = this.opts.maxTermStep;
    if (step !== undefined && this.heardPeer && msg.term > this.currentTerm + step) return actions;
    this.heardPeer = true;
    this.expirePausedLeadership(now, actions);
    if (msg.term > this.currentTerm) this.adoptTerm(msg.term, now, actions);
    switch (msg.type) {
      case "election":
        this.onElection(msg.from, now, actions);
        break;
      case "answer":
        if (this.currentState === "candidate" && msg.from > this.opts.id) {
          this.currentState = "awaiting-coordinator";
          this.deadline = now + this.opts.coordinatorTimeoutMs;
        }
        break;
      case "coordinator":
      case "heartbeat":
        this.onLeaderMessage(msg.from, msg.term, now, actions);
        break;
    }
    return actions;
  }

  /** Let time pass: the leader's heartbeats, and the answer, coordinator and leader timeouts. */
  tick(now: number): ElectionAction[] {
    const actions: ElectionAction[] = [];
    this.expirePausedLeadership(now, actions);
    switch (this.currentState) {
      case "leader":
        if (now >= this.nextHeartbeatAt) this.broadcastLeadership("heartbeat", now, actions);
        break;
      case "candidate":
        if (now >= this.deadline) this.becomeLeader(now, actions);
        break;
      case "awaiting-coordinator":
      case "follower":
        if (now >= this.deadline) this.startElection(now, actions);
        break;
    }
    return actions;
  }

  private send(to: number, type: ElectionMessage["type"], actions: ElectionAction[]): void {
    actions.push({ type: "send", to, message: { type, from: this.opts.id, term: this.currentTerm } });
  }

  private startElection(now: number, actions: ElectionAction[]): void {
    this.currentState = "candidate";
    this.currentLeader = null;
    this.deadline = now + this.opts.answerTimeoutMs;
    for (const p of this.higherPeers) this.send(p, "election", actions);
  }

  private becomeLeader(now: number, actions: ElectionAction[]): void {
    // strictly above every term seen, so never the same term twice, and owned by this node only
    const next = nextOwnedTerm(this.currentTerm, this.rank, this.sortedPeers.length);
    if (next > MAX_TERM) {
      // Every peer would ignore it: leading alone beside their leader is worse than not leading.
      this.currentState = "follower";
      this.currentLeader = null;
      this.deadline = now + this.opts.leaderTimeoutMs;
      actions.push({ type: "cannot-lead", term: this.currentTerm });
      return;
    }
    this.currentTerm = next;
    this.currentState = "leader";
    this.currentLeader = this.opts.id;
    actions.push({ type: "leader", term: this.currentTerm });
    this.broadcastLeadership("coordinator", now, actions);
  }

  private broadcastLeadership(type: "coordinator" | "heartbeat", now: number, actions: ElectionAction[]): void {
    for (const p of this.otherPeers) this.send(p, type, actions);
    this.lastHeartbeatAt = now;
    this.nextHeartbeatAt = now + this.opts.heartbeatMs;
  }

  private stepDown(now: number, actions: ElectionAction[]): void {
    actions.push({ type: "stepped-down", term: this.currentTerm });
    this.currentState = "follower";
    this.currentLeader = null;
    this.deadline = now + this.opts.leaderTimeoutMs;
  }

  private adoptTerm(term: number, now: number, actions: ElectionAction[]): void {
    if (this.currentState === "leader") this.stepDown(now, actions);
    this.currentTerm = term;
    // the followed leader led an older term; a candidate keeps electing (it will claim above `term`)
    if (this.currentState === "follower") {
      this.currentLeader = null;
      this.deadline = now + this.opts.leaderTimeoutMs;
    }
  }

  /** A leader whose heartbeats stopped for leaderTimeoutMs (process paused) may have been replaced. */
  private expirePausedLeadership(now: number, actions: ElectionAction[]): void {
    if (this.currentState !== "leader" || now - this.lastHeartbeatAt < this.opts.leaderTimeoutMs) return;
    this.stepDown(now, actions);
    this.startElection(now, actions);
  }

  private onElection(from: number, now: number, actions: ElectionAction[]): void {
    if (from > this.opts.id) return; // only its term mattered (adopted above)
    this.send(from, "answer", actions);
    if (this.currentState === "leader") this.send(from, "coordinator", actions);
    else if (this.currentState === "follower") this.startElection(now, actions);
  }

  private onLeaderMessage(from: number, term: number, now: number, actions: ElectionAction[]): void {
    if (term < this.currentTerm) {
      // a stale leader: tell it the current term
      this.send(from, this.currentState === "leader" ? "heartbeat" : "election", actions);
      return;
    }
    // term === currentTerm here (a higher one was adopted); only its owner may lead it
    if (term < 1 || termOwner(this.sortedPeers, term) !== from || this.currentState === "leader") return;
    if (from < this.opts.id) {
      // bully: a lower id leads while this node is alive
      if (this.currentState === "follower") this.startElection(now, actions);
      return;
    }
    const alreadyFollowing = this.currentState === "follower" && this.currentLeader === from;
    this.currentState = "follower";
    this.currentLeader = from;
    this.deadline = now + this.opts.leaderTimeoutMs;
    if (!alreadyFollowing) actions.push({ type: "follower", leader: from, term });
  }
}
