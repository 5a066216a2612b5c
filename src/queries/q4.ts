/** Q4: per known store, birthdates of the 3 users with most 2024–2025 transactions. */
import type { Q4Partial } from "../bodies.ts";
import type { NamesBody, UsersBody } from "../entityBatch.ts";
import { csvLine, formatDate } from "../format.ts";
import { addCount } from "../exactSum.ts";
import { createIntMap, intMapForEach, intMapGet, intMapSet, type IntMap } from "../intMap.ts";
import { byNameThenId, type QueryReducer } from "./reducer.ts";
import { keepGreater, keepGreaterInt } from "./repeatedIds.ts";

/** How many users each store reports. */
export const TOP_USERS = 3;

interface Q4State {
  /** store → (user → transaction count); typed-array maps, since pairs run into millions. */
  counts: Map<number, IntMap>;
  stores: Map<number, string>;
  /** user → birthdate as yyyymmdd (0 = empty). */
  birthdates: IntMap;
}

/** The top users of one store: most transactions first, ties to the smallest user id. */
export function topUsers(users: IntMap, k: number): number[] {
  const top: [number, number][] = [];
  intMapForEach(users, (user, count) => {
    const last = top[top.length - 1];
    // Most users lose to the current k-th: skip the sort for them.
    if (top.length === k && last && (count < last[1] || (count === last[1] && user > last[0]))) return;
    top.push([user, count]);
    top.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    if (top.length > k) top.pop();
  });
  return top.map(([user]) => user);
}

/** Reducer of Q4: merges partial counts, joins store names and birthdates at the end. */
export const q4Reducer: QueryReducer<Q4State> = {
  query: "q4",
  needs: ["transactions", "stores", "users"],
  create: () => ({ counts: new Map(), stores: new Map(), birthdates: createIntMap() }),
  apply(state, msg) {
    if (msg.bodyKind === "stores") {
      const b = msg.body as NamesBody;
      for (let i = 0; i < b.id.length; i++) keepGreater(state.stores, b.id[i]!, b.name[i]!);
    } else if (msg.bodyKind === "users") {
      const b = msg.body as UsersBody;
      for (let i = 0; i < b.user.length; i++) keepGreaterInt(state.birthdates, b.user[i]!, b.birth[i]!);
    } else if (msg.bodyKind === "q4-partial") {
      const b = msg.body as Q4Partial;
      for (let i = 0; i < b.store.length; i++) {
        let users = state.counts.get(b.store[i]!);
        if (!users) state.counts.set(b.store[i]!, (users = createIntMap(1024)));
        const user = b.user[i]!;
        intMapSet(users, user, addCount(intMapGet(users, user) ?? 0, b.count[i]!));
      }
    }
  },
  finish(state) {
    const lines = ["store_name,birthdate\n"];
    const stores = [...state.counts.keys()]
      .filter((id) => state.stores.has(id))
      .map((id) => ({ id, name: state.stores.get(id)! }))
      .sort(byNameThenId);
    for (const store of stores) {
      for (const user of topUsers(state.counts.get(store.id)!, TOP_USERS)) {
        lines.push(csvLine([store.name, formatDate(intMapGet(state.birthdates, user) ?? 0)]));
      }
    }
    return lines;
  },
};
