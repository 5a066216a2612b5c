/** Q1: transactions of 2024–2025 in the day window with final_amount >= 75, sorted by id. */
import { join } from "node:path";
import { csvLine, formatCents } from "../format.ts";
import { mergeRuns, writeRun } from "../sortedRuns.ts";
import type { QueryReducer } from "./reducer.ts";
import type { TransactionsBody } from "../entityBatch.ts";
import { fieldReader } from "../textColumn.ts";

/** Rows kept in memory before they go to disk as one sorted run (about 4 MB of state). */
export const Q1_RUN_ROWS = 50_000;

interface Q1State {
  /** Rows not yet in a run. */
  ids: string[];
  cents: number[];
  /** Sorted run files already written, by name, oldest first. */
  runs: string[];
  /** Where runs go; null keeps every row in memory (in-process clusters, tests). */
  spillDir: string | null;
  runRows: number;
}

/** Reducer of Q1: collects the filtered rows, spilling sorted runs to disk; merges them at the end. */
export const q1Reducer: QueryReducer<Q1State> = {
  query: "q1",
  needs: ["transactions"],
  create: (ctx) => ({ ids: [], cents: [], runs: [], spillDir: ctx.spillDir, runRows: ctx.spillRows ?? Q1_RUN_ROWS }),
  restore: (state, ctx) => ({ ...state, spillDir: ctx.spillDir, runRows: ctx.spillRows ?? Q1_RUN_ROWS }),
  apply(state, msg) {
    if (msg.bodyKind !== "transactions") return;
    const body = msg.body as TransactionsBody;
    const id = fieldReader(body.id);
    const before = state.ids.length;
    for (let i = 0; i < body.cents.length; i++) {
      state.ids.push(id(i));
      state.cents.push(body.cents[i]!);
    }
    if (state.spillDir !== null && state.ids.length >= state.runRows) {
      // Named by position: a replay after a crash rewrites the same run with the same rows.
      const name = `run-${state.runs.length}.run`;
      try {
        writeRun(join(state.spillDir, name), state.ids, state.cents);
      } catch (err) {
        // All or nothing: the batch is not applied, so applying it again adds its rows once.
        state.ids.length = before;
        state.cents.length = before;
        throw err;
      }
      state.runs.push(name);
      state.ids = [];
      state.cents = [];
    }
  },
  *finish(state) {
    yield "transaction_id,final_amount\n";
    const paths = state.spillDir === null ? [] : state.runs.map((r) => join(state.spillDir!, r));
    for (const row of mergeRuns(paths, state.ids, state.cents)) yield csvLine([row.id, formatCents(row.cents)]);
  },
};
