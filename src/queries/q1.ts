/** Q1: transactions of 2024–2025 in the day window with final_amount >= 75, sorted by id. */
import { csvLine, formatCents } from "../format.ts";
import type { QueryReducer } from "./reducer.ts";

interface Q1State {
  ids: string[];
  cents: number[];
}

/** Reducer of Q1: collects the filtered rows, sorts them once at the end. */
export const q1Reducer: QueryReducer<Q1State> = {
  query: "q1",
  needs: ["transactions"],
  create: () => ({ ids: [], cents: [] }),
  apply(state, msg) {
    if (msg.bodyKind !== "transactions") return;
    const body = msg.body as { id: string[]; cents: Float64Array };
    for (let i = 0; i < body.id.length; i++) {
      state.ids.push(body.id[i]!);
      state.cents.push(body.cents[i]!);
    }
  },
  finish(state) {
    const order = state.ids.map((_, i) => i);
    order.sort((a, b) => {
      const x = state.ids[a]!;
      const y = state.ids[b]!;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const lines = ["transaction_id,final_amount\n"];
    for (const i of order) lines.push(csvLine([state.ids[i]!, formatCents(state.cents[i]!)]));
    return lines;
  },
};
