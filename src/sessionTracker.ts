/**
 * Completeness and duplicate detection for one session at one aggregator, from lineage alone:
 * an entity is complete when its end-of-stream said `count` batches and seq 0..count-1 all arrived.
 */
import { InternalError } from "./errors.ts";
import type { Entity } from "./schema.ts";

interface EntityProgress {
  seen: Set<number>;
  expected: number | null;
}

/** A tracker as plain data: entity → [seqs seen, expected count or null]. */
export type TrackerSnapshot = Partial<Record<Entity, [number[], number | null]>>;

/** Outcome of recording a batch. */
export type MarkResult = "new" | "duplicate" | "out-of-range";

/** Tracks which batches of which entities a session has delivered to one aggregator. */
export class SessionTracker {
  private readonly progress = new Map<Entity, EntityProgress>();

  constructor(readonly needs: readonly Entity[]) {
    for (const e of needs) this.progress.set(e, { seen: new Set(), expected: null });
  }

  private entry(entity: Entity): EntityProgress {
    const p = this.progress.get(entity);
    if (!p) throw new InternalError(`entity ${entity} is not an input of this aggregator`);
    return p;
  }

  /** Whether batch `seq` of `entity` is new, without recording it. */
  classify(entity: Entity, seq: number): MarkResult {
    const p = this.entry(entity);
    if (p.expected !== null && seq >= p.expected) return "out-of-range";
    return p.seen.has(seq) ? "duplicate" : "new";
  }

  /**
   * Record batch `seq` of `entity`; a batch seen before is a duplicate and must not be applied.
   * Callers record only after the batch was applied, so a failed apply is retried on redelivery.
   */
  markData(entity: Entity, seq: number): MarkResult {
    const result = this.classify(entity, seq);
    if (result === "new") this.entry(entity).seen.add(seq);
    return result;
  }

  /**
   * Record end-of-stream: the entity has exactly `count` batches. With `check`, a batch already
   * seen at or past `count` contradicts it (the gateway numbers batches 0, 1, 2... without gaps):
   * an InternalError, so the session fails rather than completing with a batch missing (seen
   * {0, 5} would count 2 of 2).
   */
  markEos(entity: Entity, count: number, check = true): void {
    const p = this.entry(entity);
    if (check) {
      for (const seq of p.seen) {
        if (seq >= count) throw new InternalError(`end of stream of ${entity} says ${count} batches, but batch #${seq} arrived`);
      }
    }
    p.expected = count;
  }

  /** True once every needed entity has its end-of-stream and all of its batches. */
  isComplete(): boolean {
    for (const p of this.progress.values()) {
      if (p.expected === null || p.seen.size !== p.expected) return false;
    }
    return true;
  }

  /** Plain data for a snapshot: per entity the seqs seen and the expected count. */
  export(): TrackerSnapshot {
    const out: TrackerSnapshot = {};
    for (const [e, p] of this.progress) out[e] = [[...p.seen], p.expected];
    return out;
  }

  /** A tracker as `export()` described it. */
  static import(needs: readonly Entity[], data: TrackerSnapshot): SessionTracker {
    const t = new SessionTracker(needs);
    for (const [e, [seen, expected]] of Object.entries(data) as [Entity, [number[], number | null]][]) {
      const p = t.entry(e);
      for (const seq of seen) p.seen.add(seq);
      p.expected = expected;
    }
    return t;
  }

  /** The batch count `entity`'s end of stream said (null: none yet). */
  expectedOf(entity: Entity): number | null {
    return this.entry(entity).expected;
  }

  /** Progress per entity, for logs and status: batches seen / expected (null = still streaming). */
  summary(): Record<string, { seen: number; expected: number | null }> {
    const out: Record<string, { seen: number; expected: number | null }> = {};
    for (const [e, p] of this.progress) out[e] = { seen: p.seen.size, expected: p.expected };
    return out;
  }
}
