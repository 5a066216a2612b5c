import { expect, test } from "bun:test";
import { SumOverflowError } from "./errors.ts";
import { MAX_COUNT, MAX_EXACT_SUM, addCount, addExact, sumOverflowMessage } from "./exactSum.ts";

/** The error addExact throws for these operands, or null when it returns. */
function overflow(sum: number, value: number): SumOverflowError | null {
  try {
    addExact(sum, value, "final_amount");
    return null;
  } catch (err) {
    return err as SumOverflowError;
  }
}

test("sums up to 2^53 - 1 either side of zero are exact", () => {
  expect(addExact(MAX_EXACT_SUM - 1, 1, "final_amount")).toBe(MAX_EXACT_SUM);
  expect(addExact(-MAX_EXACT_SUM + 1, -1, "subtotal")).toBe(-MAX_EXACT_SUM);
  // Large operands of opposite signs: the float64 add is exact when the true sum is in range.
  expect(addExact(MAX_EXACT_SUM, -MAX_EXACT_SUM, "quantity")).toBe(0);
  expect(addExact(4503599627370495, 4503599627370496, "final_amount")).toBe(MAX_EXACT_SUM);
});

test("a sum past 2^53 - 1 throws a LIMIT_EXCEEDED SumOverflowError instead of rounding", () => {
  // 2^53 - 1 + 2 is 2^53 + 1, which a float64 rounds to 2^53: the bug this guards against.
  expect(MAX_EXACT_SUM + 2).toBe(2 ** 53);
  for (const [sum, value] of [[MAX_EXACT_SUM, 1], [MAX_EXACT_SUM, 2], [-MAX_EXACT_SUM, -1], [9007199254740991 / 2, 9007199254740991 / 2 + 1], [0, Number.NaN], [1, Infinity]] as const) {
    const err = overflow(sum, value);
    expect(err).toBeInstanceOf(SumOverflowError);
    expect(err?.code).toBe("LIMIT_EXCEEDED");
  }
  expect(overflow(MAX_EXACT_SUM, 1)?.message).toBe("a sum of final_amount passed 90071992547409.91, the largest total coffee adds exactly");
});

test("the message states the limit in the column's units", () => {
  expect(sumOverflowMessage("subtotal")).toContain("passed 90071992547409.91,");
  expect(sumOverflowMessage("quantity")).toContain("passed 9007199254740991,");
});

test("a count up to 2^31 - 1 (Q4's int32 slots) is kept; one past it is a LIMIT_EXCEEDED SumOverflowError, not a wrapped count", () => {
  expect(addCount(MAX_COUNT - 3, 3)).toBe(2147483647);
  for (const [count, delta] of [[MAX_COUNT, 1], [MAX_COUNT - 1, 5], [0, Number.NaN]] as const) {
    let err: unknown = null;
    try {
      addCount(count, delta);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SumOverflowError);
    expect((err as SumOverflowError).code).toBe("LIMIT_EXCEEDED");
    expect((err as SumOverflowError).message).toBe("a count of one user's transactions at one store passed 2147483647, the largest coffee counts");
  }
});
