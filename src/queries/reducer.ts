/** What an aggregator needs to know about a query: its inputs, its state, and how to print it. */
import type { DataMessage } from "../codec.ts";
import type { Entity, QueryName } from "../schema.ts";

/** A query's final stage as a fold: create → apply* → finish (CSV lines, header first). */
export interface QueryReducer<S = unknown> {
  query: QueryName;
  /** Entities whose every batch (and end-of-stream) must arrive before the result is final. */
  needs: readonly Entity[];
  create(): S;
  apply(state: S, msg: DataMessage): void;
  finish(state: S): string[];
}

/** Compare two names the way every report sorts them (code units), ties by numeric id. */
export function byNameThenId(a: { name: string; id: number }, b: { name: string; id: number }): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.id - b.id;
}
