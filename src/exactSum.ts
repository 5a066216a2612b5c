/**
 * Exact sums of cents and quantities. They are float64 numbers, which hold every integer up to
 * 2^53 − 1 exactly and round past it; so every add is checked, and a sum that leaves that range
 * throws instead of rounding: a session fails (PIPELINE_FAILED, or `coffee reference` exits 1)
 * rather than print a wrong total. One compare per add: BigInt sums, exact past the range, would
 * cost every row of the hot loops (and change the partials' f64 wire columns) to serve totals
 * over $90 trillion in one group. Q4's transaction counts are checked here too, against the
 * int32 slots the aggregator keeps them in.
 */
import { SumOverflowError } from "./errors.ts";
import { formatCents } from "./format.ts";

/** The largest sum (cents or units, either sign) coffee adds exactly: 2^53 − 1. */
export const MAX_EXACT_SUM = Number.MAX_SAFE_INTEGER;

/** A column whose values are summed: money in cents, or the quantity count. */
export type SummedColumn = "final_amount" | "subtotal" | "quantity";

/** Why a sum of `column` stopped: the limit in the column's own units. */
export function sumOverflowMessage(column: SummedColumn): string {
  const limit = column === "quantity" ? String(MAX_EXACT_SUM) : formatCents(MAX_EXACT_SUM);
  return `a sum of ${column} passed ${limit}, the largest total coffee adds exactly`;
}

/**
 * The largest Q4 count of one user's transactions at one store: the aggregator keeps the counts
 * in int32 slots (src/intMap.ts), so past it a count would wrap, not round.
 */
export const MAX_COUNT = 2 ** 31 - 1;

/** `count + delta`, or a SumOverflowError when the result passes MAX_COUNT. */
export function addCount(count: number, delta: number): number {
  const total = count + delta;
  if (!(total <= MAX_COUNT)) throw new SumOverflowError(`a count of one user's transactions at one store passed ${MAX_COUNT}, the largest coffee counts`);
  return total;
}

/**
 * `sum + value`, or a SumOverflowError when the result is outside ±MAX_EXACT_SUM. Exact for
 * integer operands: the float64 add is correctly rounded, so a true sum within the range (an
 * integer a float64 holds) comes out exact, and one past it rounds to at least 2^53, which the
 * compare catches. Written negated so that NaN fails too.
 */
export function addExact(sum: number, value: number, column: SummedColumn): number {
  const total = sum + value;
  if (!(total <= MAX_EXACT_SUM && total >= -MAX_EXACT_SUM)) throw new SumOverflowError(sumOverflowMessage(column));
  return total;
}
