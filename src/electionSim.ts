/**
 * A simulated network of `BullyElection` nodes for deterministic tests: a virtual clock, an event
 * queue, per-message delays and loss drawn from a seeded PRNG, partitions, crashes, restarts (a
 * restarted node is a fresh state machine with term 0) and pauses (a paused node neither ticks
 * nor handles messages; what arrives meanwhile is handled when it resumes).
 *
 * After EVERY event the simulator checks the election's safety invariants and records any
 * violation in `violations` (a correct implementation leaves it empty):
 * - no two live nodes are in state "leader" for the same term;
 * - every (term, leader) announced over the whole run (the `leader` actions) has one leader per term;
 * - no node incarnation leads the same term twice, or acknowledges two different leaders (itself
 *   included) for one term, and every acknowledged (term, leader) was announced by that leader;
 * - a node incarnation's term never goes back.
 */
import { BullyElection, type ElectionAction, type ElectionMessage, type ElectionOptions } from "./election.ts";
import { InternalError } from "./errors.ts";
import { Rng } from "./generator.ts";

/** Options of `ElectionSim`; durations in virtual ms. */
export interface ElectionSimOptions {
  /** Ids of the simulated monitors. */
  ids: readonly number[];
  /** Timing given to every node's `BullyElection`. */
  timing: Omit<ElectionOptions, "id" | "peers">;
  /** Seed of the PRNG behind delays, loss and tick phases. */
  seed: number;
  /** Interval at which every live node is ticked. */
  tickMs: number;
  /** Every message takes a uniform delay in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability in [0, 1) that a message is lost. */
  lossRate: number;
}

/** Something the simulator observed, in order, for assertions and debugging. */
export type SimRecord =
  | { type: "action"; at: number; node: number; action: Exclude<ElectionAction, { type: "send" }> }
  | { type: "crash"; at: number; node: number }
  | { type: "restart"; at: number; node: number }
  | { type: "partition"; at: number; groups: number[][] };

/** Counters of what a simulation did. */
export interface SimStats {
  /** Events handled: ticks, deliveries, boots, crashes, partition changes. */
  events: number;
  sent: number;
  delivered: number;
  /** Lost at random, blocked by a partition, or addressed to a node that crashed meanwhile. */
  dropped: number;
}

type SimEvent =
  | { type: "tick"; node: number; incarnation: number }
  | { type: "deliver"; to: number; incarnation: number; message: ElectionMessage };

interface Scheduled {
  at: number;
  seq: number;
  event: SimEvent;
}

interface SimNode {
  machine: BullyElection;
  incarnation: number;
  /** Handles nothing before this virtual time (paused until then). */
  pausedUntil: number;
  /** term -> leader this incarnation acknowledged (itself for the terms it led). */
  acknowledged: Map<number, number>;
  /** The term seen at the last check; it must never go back within an incarnation. */
  lastTerm: number;
}

/** Binary min-heap of events ordered by (time, insertion order), so runs are deterministic. */
class EventQueue {
  private readonly heap: Scheduled[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: Scheduled): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(item, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
  }

  peek(): Scheduled | undefined {
    return this.heap[0];
  }

  pop(): Scheduled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && earlier(h[r]!, h[l]!) ? r : l;
      if (!earlier(h[child]!, last)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
    return top;
  }
}

function earlier(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** N election nodes on a simulated, lossy, partitionable network with a virtual clock. */
export class ElectionSim {
  /** Current virtual time (ms). */
  now = 0;
  /** Safety violations seen (empty when the election is correct). */
  readonly violations: string[] = [];
  /** Leadership actions, crashes, restarts and partitions, in order. */
  readonly records: SimRecord[] = [];
  /** Every (term -> leader) announced by a `leader` action during the whole run. */
  readonly announced = new Map<number, number>();
  /** What the simulation did. */
  readonly stats: SimStats = { events: 0, sent: 0, delivered: 0, dropped: 0 };
  /** Probability that a message is lost; may be changed between runs. */
  lossRate: number;

  private readonly opts: ElectionSimOptions;
  private readonly rng: Rng;
  private readonly queue = new EventQueue();
  private readonly nodes = new Map<number, SimNode>();
  private readonly incarnations = new Map<number, number>();
  /** node -> partition group; nodes in different groups cannot talk. */
  private readonly groupOf = new Map<number, number>();
  private seq = 0;

  constructor(opts: ElectionSimOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    this.lossRate = opts.lossRate;
  }

  /** Ids of the nodes that are up (not crashed), ascending. */
  get liveIds(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  /** The state machine of a live node, or undefined if it is down. */
  node(id: number): BullyElection | undefined {
    return this.nodes.get(id)?.machine;
  }

  /** Boot (or reboot) node `id` now: a fresh state machine with term 0 that starts an election. */
  boot(id: number): void {
    this.start(this.create(id));
  }

  /** Boot every node at the current time: all are up before any of them starts its election. */
  bootAll(): void {
    const ids = this.opts.ids.map((id) => this.create(id));
    for (const id of ids) this.start(id);
  }

  private create(id: number): number {
    if (!this.opts.ids.includes(id)) throw new InternalError(`sim: unknown node ${id}`);
    if (this.nodes.has(id)) throw new InternalError(`sim: node ${id} is already up`);
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    const machine = new BullyElection({ ...this.opts.timing, id, peers: this.opts.ids }, this.now);
    this.nodes.set(id, { machine, incarnation, pausedUntil: this.now, acknowledged: new Map(), lastTerm: 0 });
    if (incarnation > 1) this.records.push({ type: "restart", at: this.now, node: id });
    return id;
  }

  private start(id: number): void {
    const n = this.nodes.get(id)!;
    this.apply(id, n.machine.start(this.now));
    // random phase so that the nodes' ticks interleave differently per seed
    this.schedule(this.now + 1 + this.rng.int(this.opts.tickMs), { type: "tick", node: id, incarnation: n.incarnation });
    this.afterEvent();
  }

  /** Stop node `id` at once; messages in flight to it are lost. */
  crash(id: number): void {
    if (!this.nodes.delete(id)) throw new InternalError(`sim: node ${id} is not up`);
    this.records.push({ type: "crash", at: this.now, node: id });
    this.afterEvent();
  }

  /** Pause node `id` (a stopped process, a long GC) for `ms`: it handles nothing until then. */
  pause(id: number, ms: number): void {
    const n = this.nodes.get(id);
    if (n === undefined) throw new InternalError(`sim: node ${id} is not up`);
    n.pausedUntil = Math.max(n.pausedUntil, this.now + ms);
  }

  /** Split the network: nodes in different groups cannot talk; nodes in no group are isolated. */
  partition(groups: readonly (readonly number[])[]): void {
    this.groupOf.clear();
    let isolated = groups.length;
    groups.forEach((g, i) => g.forEach((id) => this.groupOf.set(id, i)));
    for (const id of this.opts.ids) if (!this.groupOf.has(id)) this.groupOf.set(id, isolated++);
    this.records.push({ type: "partition", at: this.now, groups: groups.map((g) => [...g]) });
    this.afterEvent();
  }

  /** Remove every partition. */
  heal(): void {
    this.partition([this.opts.ids]);
  }

  /** Whether `a` and `b` can currently talk. */
  connected(a: number, b: number): boolean {
    return (this.groupOf.get(a) ?? 0) === (this.groupOf.get(b) ?? 0);
  }

  /** Handle events until the virtual clock reaches `until` (inclusive). */
  runUntil(until: number): void {
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.at > until) break;
      this.queue.pop();
      this.now = next.at;
      this.handle(next.event);
    }
    this.now = Math.max(this.now, until);
  }

  /** Handle events for `ms` of virtual time. */
  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** The live nodes currently in state "leader". */
  leaders(): BullyElection[] {
    return [...this.nodes.values()].map((n) => n.machine).filter((m) => m.state === "leader");
  }

  /**
   * Null when the live nodes agree: exactly one leader, the highest live id, and every other live
   * node follows it in its term. Otherwise a description of the disagreement.
   */
  disagreement(): string | null {
    const ids = this.liveIds;
    const highest = ids[ids.length - 1];
    if (highest === undefined) return "no live node";
    const leaders = this.leaders();
    const top = this.nodes.get(highest)!.machine;
    if (leaders.length !== 1 || top.state !== "leader") return `leaders ${leaders.map((l) => `${l.id}@${l.term}`).join(",") || "none"}; expected ${highest}: ${this.describe()}`;
    for (const id of ids) {
      if (id === highest) continue;
      const m: BullyElection = this.nodes.get(id)!.machine;
      if (m.state !== "follower" || m.leader !== highest || m.term !== top.term) return `node ${id} does not follow ${highest}@${top.term}: ${this.describe()}`;
    }
    return null;
  }

  /** One line per live node: id, state, term, leader. */
  describe(): string {
    return this.liveIds.map((id) => {
      const m = this.nodes.get(id)!.machine;
      return `${id}:${m.state}@${m.term}->${m.leader ?? "-"}`;
    }).join(" ");
  }

  private schedule(at: number, event: SimEvent): void {
    this.queue.push({ at, seq: this.seq++, event });
  }

  private handle(event: SimEvent): void {
    switch (event.type) {
      case "tick": {
        const n = this.nodes.get(event.node);
        if (n === undefined || n.incarnation !== event.incarnation) return; // crashed: its ticks stop
        this.schedule(Math.max(this.now, n.pausedUntil) + this.opts.tickMs, event);
        if (n.pausedUntil > this.now) return;
        this.apply(event.node, n.machine.tick(this.now));
        break;
      }
      case "deliver": {
        const n = this.nodes.get(event.to);
        if (n === undefined || n.incarnation !== event.incarnation || !this.connected(event.message.from, event.to)) {
          this.stats.dropped++;
          return;
        }
        if (n.pausedUntil > this.now) {
          this.schedule(n.pausedUntil, event); // buffered by the OS until the process runs again
          return;
        }
        this.stats.delivered++;
        this.apply(event.to, n.machine.receive(event.message, this.now));
        break;
      }
    }
    this.afterEvent();
  }

  private apply(id: number, actions: readonly ElectionAction[]): void {
    const self = this.nodes.get(id);
    for (const action of actions) {
      if (action.type === "send") {
        this.stats.sent++;
        const target = this.nodes.get(action.to);
        if (target === undefined || !this.connected(id, action.to) || this.rng.chance(this.lossRate)) {
          this.stats.dropped++;
          continue;
        }
        const delay = this.opts.minDelayMs + this.rng.float() * (this.opts.maxDelayMs - this.opts.minDelayMs);
        this.schedule(this.now + delay, { type: "deliver", to: action.to, incarnation: target.incarnation, message: action.message });
        continue;
      }
      this.records.push({ type: "action", at: this.now, node: id, action });
      if (action.type === "leader") {
        const previous = this.announced.get(action.term);
        if (previous !== undefined && previous !== id) this.violate(`term ${action.term} announced by ${previous} and by ${id}`);
        this.announced.set(action.term, id);
        if (self !== undefined) {
          const acknowledged = self.acknowledged.get(action.term);
          if (acknowledged !== undefined) this.violate(`node ${id} leads term ${action.term} again or after acknowledging ${acknowledged} for it`);
          self.acknowledged.set(action.term, id);
        }
      } else if (action.type === "follower" && self !== undefined) {
        const previous = self.acknowledged.get(action.term);
        if (previous !== undefined && previous !== action.leader) this.violate(`node ${id} acknowledged ${previous} and ${action.leader} for term ${action.term}`);
        self.acknowledged.set(action.term, action.leader);
        const announcer = this.announced.get(action.term);
        if (announcer !== action.leader) this.violate(`node ${id} follows ${action.leader} for term ${action.term}, announced by ${announcer ?? "nobody"}`);
      }
    }
  }

  /** The per-event safety check: terms never go back, and no two leaders share a term. */
  private afterEvent(): void {
    this.stats.events++;
    let leaderCount = 0;
    for (const [id, n] of this.nodes) {
      const m = n.machine;
      if (m.term < n.lastTerm) this.violate(`node ${id} went back from term ${n.lastTerm} to ${m.term}`);
      n.lastTerm = m.term;
      if (m.state === "leader") leaderCount++;
    }
    if (leaderCount < 2) return;
    // two or more leaders (only in partitions, so rare): compare every pair
    const leaders = this.leaders();
    for (let i = 0; i < leaders.length; i++) {
      for (let j = i + 1; j < leaders.length; j++) {
        if (leaders[i]!.term === leaders[j]!.term) this.violate(`nodes ${leaders[i]!.id} and ${leaders[j]!.id} both lead term ${leaders[i]!.term}`);
      }
    }
  }

  private violate(message: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.now.toFixed(1)}: ${message}`);
  }
}
