/** What an aggregator needs to know about a query: its inputs, its state, and how to print it. */
import type { DataMessage } from "../codec.ts";
import type { Entity, QueryName } from "../schema.ts";
import { compareCodePoints } from "../textOrder.ts";

/** What a session's state may use besides memory. */
export interface ReducerContext {
  /** A directory of the session's own for state too large for memory (null: memory only). */
  spillDir: string | null;
  /** Rows a reducer keeps in memory before spilling (tests make it small); undefined: its own default. */
  spillRows?: number;
  /**
   * Told of each file written in `spillDir`, not yet fsynced: the aggregator makes such files
   * durable before a snapshot of the state that names them (before that, the log's records
   * they were made from are replayed, which writes them again).
   */
  wroteFile?: (path: string) => void;
}

/** A query's final stage as a fold: create → apply* → finish (CSV lines, header first). */
export interface QueryReducer<S = unknown> {
  query: QueryName;
  /** Entities whose every batch (and end-of-stream) must arrive before the result is final. */
  needs: readonly Entity[];
  create(ctx: ReducerContext): S;
  /** `ctx`: the session's context, as `create` had it (absent in tests that need none). */
  apply(state: S, msg: DataMessage, ctx?: ReducerContext): void;
  /** The result's lines, produced as they are consumed (a large result never sits in memory). */
  finish(state: S): Iterable<string>;
  /** A state rebuilt from a snapshot, given this process's context (paths may differ). */
  restore?(state: S, ctx: ReducerContext): S;
}

/** Compare two names the way every report sorts them (code points, src/textOrder.ts), ties by numeric id. */
export function byNameThenId(a: { name: string; id: number }, b: { name: string; id: number }): number {
  return compareCodePoints(a.name, b.name) || a.id - b.id;
}
