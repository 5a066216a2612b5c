/** Q1: transactions of 2024–2025 in the day window with final_amount >= 75, sorted by id. */
import { join } from "node:path";
import { csvLine, formatCents } from "../format.ts";
import { mergeRuns, writeRun } from "../sortedRuns.ts";
import type { QueryReducer } from "./reducer.ts";
import type { TransactionsBody } from "../entityBatch.ts";
import { fieldReader } from "../textColumn.ts";
import { crashPoint } from "../crashPoint.ts";
import { InternalError } from "../errors.ts";

/** Rows kept in memory before they go to disk as one sorted run (about 4 MB of state with this dataset's ids). */
export const Q1_RUN_ROWS = 50_000;
/**
 * Characters of ids kept in memory before they go to disk as one sorted run, however few the
 * rows: ids may be up to the gateway's --max-field-bytes (64 KiB) each, and 50 000 of those
 * held gigabytes per session. This dataset's ids (36 characters) never reach it first.
 */
export const Q1_RUN_ID_CHARS = 4 * 1024 * 1024;

interface Q1State {
  /** Rows not yet in a run. */
  ids: string[];
  cents: number[];
  /** Sorted run files already written, by name, oldest first. */
  runs: string[];
  /** Where runs go; null keeps every row in memory (in-process clusters, tests). */
  spillDir: string | null;
  runRows: number;
  /** Characters in `ids`. */
  idChars: number;
}

const idCharsOf = (ids: readonly string[]): number => ids.reduce((n, id) => n + id.length, 0);

/** Reducer of Q1: collects the filtered rows, spilling sorted runs to disk; merges them at the end. */
export const q1Reducer: QueryReducer<Q1State> = {
  query: "q1",
  needs: ["transactions"],
  create: (ctx) => ({ ids: [], cents: [], runs: [], spillDir: ctx.spillDir, runRows: ctx.spillRows ?? Q1_RUN_ROWS, idChars: 0 }),
  // Counted again: a snapshot of a build before the count has none.
  restore: (state, ctx) => ({ ...state, spillDir: ctx.spillDir, runRows: ctx.spillRows ?? Q1_RUN_ROWS, idChars: idCharsOf(state.ids) }),
  apply(state, msg, ctx) {
    if (msg.bodyKind !== "transactions") return;
    const body = msg.body as TransactionsBody;
    const id = fieldReader(body.id);
    const before = state.ids.length;
    const charsBefore = state.idChars;
    for (let i = 0; i < body.cents.length; i++) {
      const text = id(i);
      state.ids.push(text);
      state.cents.push(body.cents[i]!);
      state.idChars += text.length;
    }
    if (state.spillDir !== null && (state.ids.length >= state.runRows || state.idChars >= Q1_RUN_ID_CHARS)) {
      // Named by position: a replay after a crash rewrites the same run with the same rows.
      const name = `run-${state.runs.length}.run`;
      const path = join(state.spillDir, name);
      // A run no one is told of would never be fsynced before a snapshot names it.
      const wrote = ctx?.wroteFile;
      try {
        if (!wrote) throw new InternalError("q1 spills a run only with a context told of the files it writes (ReducerContext.wroteFile)");
        writeRun(path, state.ids, state.cents);
      } catch (err) {
        // All or nothing: the batch is not applied, so applying it again adds its rows once.
        state.ids.length = before;
        state.cents.length = before;
        state.idChars = charsBefore;
        throw err;
      }
      wrote(path);
      crashPoint("aggregator.spilled");
      state.runs.push(name);
      state.ids = [];
      state.cents = [];
      state.idChars = 0;
    }
  },
  *finish(state) {
    yield "transaction_id,final_amount\n";
    const paths = state.spillDir === null ? [] : state.runs.map((r) => join(state.spillDir!, r));
    for (const row of mergeRuns(paths, state.ids, state.cents)) yield csvLine([row.id, formatCents(row.cents)]);
  },
};
