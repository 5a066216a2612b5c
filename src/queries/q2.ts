/** Q2: per month of 2024–2025, the item most sold (quantity) and most profitable (subtotal). */
import type { Q2Partial } from "../bodies.ts";
import type { NamesBody } from "../entityBatch.ts";
import { addExact } from "../exactSum.ts";
import { csvLine, formatCents } from "../format.ts";
import type { QueryReducer } from "./reducer.ts";
import { keepGreater } from "./repeatedIds.ts";

interface Q2State {
  /** month (yyyymm) → item → [quantity, cents] */
  months: Map<number, Map<number, [number, number]>>;
  names: Map<number, string>;
}

/** Index of the best item by `metric`, ties to the smallest item id. */
function best(items: Map<number, [number, number]>, metric: 0 | 1): [number, number] {
  let bestItem = -1;
  let bestValue = -Infinity;
  for (const [item, sums] of items) {
    const v = sums[metric];
    if (v > bestValue || (v === bestValue && item < bestItem)) {
      bestItem = item;
      bestValue = v;
    }
  }
  return [bestItem, bestValue];
}

/** Reducer of Q2: merges per-batch partial sums (exactly, or SumOverflowError), joins item names at the end. */
export const q2Reducer: QueryReducer<Q2State> = {
  query: "q2",
  needs: ["transaction_items", "menu_items"],
  create: () => ({ months: new Map(), names: new Map() }),
  apply(state, msg) {
    if (msg.bodyKind === "menu_items") {
      const b = msg.body as NamesBody;
      for (let i = 0; i < b.id.length; i++) keepGreater(state.names, b.id[i]!, b.name[i]!);
      return;
    }
    if (msg.bodyKind !== "q2-partial") return;
    const b = msg.body as Q2Partial;
    for (let i = 0; i < b.month.length; i++) {
      let items = state.months.get(b.month[i]!);
      if (!items) state.months.set(b.month[i]!, (items = new Map()));
      // Checked from the first partial on: a decoded f64 column is not bounded by the parsers.
      const sums = items.get(b.item[i]!);
      if (sums) { sums[0] = addExact(sums[0], b.qty[i]!, "quantity"); sums[1] = addExact(sums[1], b.cents[i]!, "subtotal"); }
      else items.set(b.item[i]!, [addExact(0, b.qty[i]!, "quantity"), addExact(0, b.cents[i]!, "subtotal")]);
    }
  },
  finish(state) {
    const lines = ["year_month_created_at,item_name,sellings_qty,profit_sum,metric_type\n"];
    for (const month of [...state.months.keys()].sort((a, b) => a - b)) {
      const items = state.months.get(month)!;
      const label = `${Math.floor(month / 100)}-${String(month % 100).padStart(2, "0")}`;
      const [profItem, profCents] = best(items, 1);
      const [soldItem, soldQty] = best(items, 0);
      lines.push(csvLine([label, state.names.get(profItem) ?? "", "", formatCents(profCents), "most_profitable"]));
      lines.push(csvLine([label, state.names.get(soldItem) ?? "", String(soldQty), "", "most_sold"]));
    }
    return lines;
  },
};
