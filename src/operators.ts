/**
 * The stateless stage operators: pure functions from one decoded batch to one output body.
 * Exactly one output per input (possibly empty) is what lets aggregators track completeness.
 */
import type { ItemsBody, TransactionsBody } from "./entityBatch.ts";
import { selectFields } from "./textColumn.ts";
import type { BodyKind, BodyOf, Q2Partial, Q3Partial, Q4Partial } from "./bodies.ts";
import { addExact } from "./exactSum.ts";

/** Start of the Q1/Q3 time-of-day window (06:00:00, included), in seconds since midnight. */
export const WINDOW_START = 6 * 3600;
/** End of the Q1/Q3 time-of-day window (23:00:00, included), in seconds since midnight. */
export const WINDOW_END = 23 * 3600;
/** Q1 amount threshold in cents. */
export const MIN_AMOUNT_CENTS = 7500;

/** Year of a yyyymmdd date. */
export function yearOf(date: number): number {
  return Math.floor(date / 10000);
}

/** True for the years every query keeps. */
export function inYears(date: number): boolean {
  const y = yearOf(date);
  return y === 2024 || y === 2025;
}

function selectTransactions(body: TransactionsBody, keep: (i: number) => boolean): TransactionsBody {
  const idx: number[] = [];
  for (let i = 0; i < body.store.length; i++) if (keep(i)) idx.push(i);
  const pick = <T extends Int32Array | Float64Array>(col: T): T => {
    const out = new (col.constructor as new (n: number) => T)(idx.length);
    for (let k = 0; k < idx.length; k++) out[k] = col[idx[k]!]!;
    return out;
  };
  return {
    id: selectFields(body.id, idx),
    store: pick(body.store), user: pick(body.user), cents: pick(body.cents),
    date: pick(body.date), time: pick(body.time),
  };
}

/** Keep transactions of 2024 and 2025. */
export function filterYear(body: TransactionsBody): TransactionsBody {
  return selectTransactions(body, (i) => inYears(body.date[i]!));
}

/** Keep transactions between 06:00:00 and 23:00:00 inclusive. */
export function filterTime(body: TransactionsBody): TransactionsBody {
  return selectTransactions(body, (i) => body.time[i]! >= WINDOW_START && body.time[i]! <= WINDOW_END);
}

/** Keep transactions with final_amount >= 75. */
export function filterAmount(body: TransactionsBody): TransactionsBody {
  return selectTransactions(body, (i) => body.cents[i]! >= MIN_AMOUNT_CENTS);
}

/** Keep transaction items of 2024 and 2025. */
export function filterItemsYear(body: ItemsBody): ItemsBody {
  const idx: number[] = [];
  for (let i = 0; i < body.item.length; i++) if (inYears(body.date[i]!)) idx.push(i);
  return {
    item: Int32Array.from(idx, (i) => body.item[i]!),
    qty: Float64Array.from(idx, (i) => body.qty[i]!),
    cents: Float64Array.from(idx, (i) => body.cents[i]!),
    date: Int32Array.from(idx, (i) => body.date[i]!),
  };
}

/** Partial Q2: sums of quantity and subtotal per (month, item) within one batch; SumOverflowError past the exact range. */
export function groupQ2(body: ItemsBody): Q2Partial {
  const sums = new Map<number, [number, number]>();
  for (let i = 0; i < body.item.length; i++) {
    const month = Math.floor(body.date[i]! / 100);
    // Items ids fit in 2^31, months in 6 digits: one exact numeric key per (month, item).
    const key = month * 2 ** 31 + body.item[i]!;
    const s = sums.get(key);
    if (s) { s[0] = addExact(s[0], body.qty[i]!, "quantity"); s[1] = addExact(s[1], body.cents[i]!, "subtotal"); }
    else sums.set(key, [body.qty[i]!, body.cents[i]!]);
  }
  const out: Q2Partial = { month: new Int32Array(sums.size), item: new Int32Array(sums.size), qty: new Float64Array(sums.size), cents: new Float64Array(sums.size) };
  let k = 0;
  for (const [key, [qty, cents]] of sums) {
    out.month[k] = Math.floor(key / 2 ** 31);
    out.item[k] = key % 2 ** 31;
    out.qty[k] = qty;
    out.cents[k] = cents;
    k++;
  }
  return out;
}

/** Half-year key of a yyyymmdd date: year*10 + 1 (Jan–Jun) or 2 (Jul–Dec). */
export function halfOf(date: number): number {
  const month = Math.floor(date / 100) % 100;
  return yearOf(date) * 10 + (month <= 6 ? 1 : 2);
}

/** Partial Q3: sum of final_amount per (half year, store) within one batch; SumOverflowError past the exact range. */
export function groupQ3(body: TransactionsBody): Q3Partial {
  const sums = new Map<number, number>();
  for (let i = 0; i < body.store.length; i++) {
    // Exact: a half (at most 99992) times 2^31 plus a 31-bit store stays under 2^53.
    const key = halfOf(body.date[i]!) * 2 ** 31 + body.store[i]!;
    sums.set(key, addExact(sums.get(key) ?? 0, body.cents[i]!, "final_amount"));
  }
  const out: Q3Partial = { half: new Int32Array(sums.size), store: new Int32Array(sums.size), cents: new Float64Array(sums.size) };
  let k = 0;
  for (const [key, cents] of sums) {
    out.half[k] = Math.floor(key / 2 ** 31);
    out.store[k] = key % 2 ** 31;
    out.cents[k] = cents;
    k++;
  }
  return out;
}

/** Partial Q4: transaction count per (store, user) within one batch; rows without a user are dropped. */
export function groupQ4(body: TransactionsBody): Q4Partial {
  // A map per store: store and user are 31-bit ids each, and one number holds only 53 bits.
  const byStore = new Map<number, Map<number, number>>();
  let size = 0;
  for (let i = 0; i < body.store.length; i++) {
    const user = body.user[i]!;
    if (user < 0) continue;
    const store = body.store[i]!;
    let counts = byStore.get(store);
    if (!counts) byStore.set(store, (counts = new Map()));
    const before = counts.get(user);
    if (before === undefined) size++;
    counts.set(user, (before ?? 0) + 1);
  }
  const out: Q4Partial = { store: new Int32Array(size), user: new Int32Array(size), count: new Float64Array(size) };
  let k = 0;
  for (const [store, counts] of byStore) {
    for (const [user, count] of counts) {
      out.store[k] = store;
      out.user[k] = user;
      out.count[k] = count;
      k++;
    }
  }
  return out;
}

/** An operator: which body kind it reads, which it writes, and the pure function between them. */
export interface Operator<I extends BodyKind = BodyKind, O extends BodyKind = BodyKind> {
  input: I;
  output: O;
  apply(body: BodyOf<I>): BodyOf<O>;
}

function op<I extends BodyKind, O extends BodyKind>(input: I, output: O, apply: (b: BodyOf<I>) => BodyOf<O>): Operator {
  // Erase the kinds: the worker checks a message's bodyKind against `input` before applying.
  return { input, output, apply: apply as unknown as (b: BodyOf<BodyKind>) => BodyOf<BodyKind> };
}

/** Every operator by name; the topology refers to them by these names. */
export const OPERATORS = {
  "filter-year": op("transactions", "transactions", filterYear),
  "filter-time": op("transactions", "transactions", filterTime),
  "filter-amount": op("transactions", "transactions", filterAmount),
  "filter-items-year": op("transaction_items", "transaction_items", filterItemsYear),
  "group-q2": op("transaction_items", "q2-partial", groupQ2),
  "group-q3": op("transactions", "q3-partial", groupQ3),
  "group-q4": op("transactions", "q4-partial", groupQ4),
} as const satisfies Record<string, Operator>;

/** Name of an operator. */
export type OperatorName = keyof typeof OPERATORS;
