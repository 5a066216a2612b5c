/** Q3: total payment value per half year and store (2024–2025, day window), known stores only. */
import type { Q3Partial } from "../bodies.ts";
import type { NamesBody } from "../entityBatch.ts";
import { addExact } from "../exactSum.ts";
import { csvLine, formatCents } from "../format.ts";
import { byNameThenId, type QueryReducer } from "./reducer.ts";
import { keepGreater } from "./repeatedIds.ts";

interface Q3State {
  /** half (year*10 + 1|2) → store → cents */
  halves: Map<number, Map<number, number>>;
  stores: Map<number, string>;
}

/** Reducer of Q3: merges partial sums (exactly, or SumOverflowError), joins store names at the end. */
export const q3Reducer: QueryReducer<Q3State> = {
  query: "q3",
  needs: ["transactions", "stores"],
  create: () => ({ halves: new Map(), stores: new Map() }),
  apply(state, msg) {
    if (msg.bodyKind === "stores") {
      const b = msg.body as NamesBody;
      for (let i = 0; i < b.id.length; i++) keepGreater(state.stores, b.id[i]!, b.name[i]!);
      return;
    }
    if (msg.bodyKind !== "q3-partial") return;
    const b = msg.body as Q3Partial;
    for (let i = 0; i < b.half.length; i++) {
      let stores = state.halves.get(b.half[i]!);
      if (!stores) state.halves.set(b.half[i]!, (stores = new Map()));
      stores.set(b.store[i]!, addExact(stores.get(b.store[i]!) ?? 0, b.cents[i]!, "final_amount"));
    }
  },
  finish(state) {
    const lines = ["year_half_created_at,store_name,tpv\n"];
    for (const half of [...state.halves.keys()].sort((a, b) => a - b)) {
      const label = `${Math.floor(half / 10)}-H${half % 10}`;
      const rows = [...state.halves.get(half)!]
        .filter(([store]) => state.stores.has(store))
        .map(([store, cents]) => ({ id: store, name: state.stores.get(store)!, cents }))
        .sort(byNameThenId);
      for (const r of rows) lines.push(csvLine([label, r.name, formatCents(r.cents)]));
    }
    return lines;
  },
};
