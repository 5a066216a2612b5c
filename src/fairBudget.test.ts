import { expect, test } from "bun:test";
import { FairBudget } from "./fairBudget.ts";

test("a lone holder gets the whole budget, pauses at it and resumes under half", () => {
  const b = new FairBudget<string>(100);
  expect(b.weigh("a", 60)).toBeNull();
  expect(b.weigh("a", 40)).toBe("pause");
  expect(b.isPaused("a")).toBe(true);
  expect(b.weigh("a", -40)).toBeNull();
  expect(b.weigh("a", -11)).toBe("resume");
  expect(b.isPaused("a")).toBe(false);
  expect(b.heldBy("a")).toBe(49);
});

test("the budget is split among holders: one at its share pauses alone, the other goes on", () => {
  const b = new FairBudget<string>(100);
  expect(b.weigh("a", 30)).toBeNull();
  // Two holders: 50 each. b reaches its share and pauses; a, under it, is not touched.
  expect(b.weigh("b", 50)).toBe("pause");
  expect(b.weigh("a", 10)).toBeNull();
  expect(b.isPaused("a")).toBe(false);
  // b back under half its share (25) resumes.
  expect(b.weigh("b", -26)).toBe("resume");
});

test("when a holder releases everything, the others' share grows and it holds nothing", () => {
  const b = new FairBudget<string>(90);
  b.weigh("a", 10);
  b.weigh("b", 10);
  expect(b.weigh("c", 30)).toBe("pause");
  b.weigh("a", -10);
  b.weigh("b", -10);
  expect(b.heldBy("a")).toBe(0);
  // c alone now (share 90): its own next release, which always comes while it holds bytes, resumes it.
  expect(b.weigh("c", -1)).toBe("resume");
});

test("a paused holder that releases all its bytes is resumed", () => {
  const b = new FairBudget<string>(10);
  b.weigh("x", 5);
  expect(b.weigh("y", 5)).toBe("pause");
  expect(b.weigh("y", -5)).toBe("resume");
  expect(b.isPaused("y")).toBe(false);
  expect(b.heldBy("y")).toBe(0);
});
