import { expect, test } from "bun:test";
import { InternalError } from "./errors.ts";
import { SessionTracker } from "./sessionTracker.ts";

test("complete only when every needed entity has eos and all its batches, in any order", () => {
  const t = new SessionTracker(["transactions", "stores"]);
  expect(t.markData("transactions", 1)).toBe("new");
  t.markEos("transactions", 2);
  expect(t.isComplete()).toBe(false);
  expect(t.markData("transactions", 0)).toBe("new");
  expect(t.isComplete()).toBe(false);
  t.markEos("stores", 0);
  expect(t.isComplete()).toBe(true);
});

test("duplicates and out-of-range batches are recognised", () => {
  const t = new SessionTracker(["users"]);
  expect(t.markData("users", 0)).toBe("new");
  expect(t.markData("users", 0)).toBe("duplicate");
  t.markEos("users", 1);
  expect(t.markData("users", 1)).toBe("out-of-range");
  expect(t.summary()).toEqual({ users: { seen: 1, expected: 1 } });
});

test("an entity the aggregator does not consume is an INTERNAL error", () => {
  try {
    new SessionTracker(["users"]).markData("stores", 0);
    throw new Error("accepted");
  } catch (err) {
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).code).toBe("INTERNAL");
  }
});

test("export then import keeps every seen batch and every eos: a restored session completes, and its duplicates stay duplicates", () => {
  const t = new SessionTracker(["transactions", "stores"]);
  t.markData("transactions", 0);
  t.markEos("transactions", 2);
  t.markEos("stores", 0);
  const back = SessionTracker.import(["transactions", "stores"], t.export());
  expect(back.summary()).toEqual(t.summary());
  expect(back.markData("transactions", 0)).toBe("duplicate");
  expect(back.markData("transactions", 2)).toBe("out-of-range");
  expect(back.isComplete()).toBe(false);
  expect(back.markData("transactions", 1)).toBe("new");
  expect(back.isComplete()).toBe(true);
});

test("an end of stream that a batch already seen contradicts is an INTERNAL error, never a session complete with a batch missing", () => {
  const t = new SessionTracker(["users"]);
  t.markData("users", 0);
  t.markData("users", 5);
  expect(() => t.markEos("users", 2)).toThrow(InternalError);
  expect(t.isComplete()).toBe(false);
  t.markEos("users", 6);
  expect(t.isComplete()).toBe(false);
});

test("expectedOf is the count an entity's end of stream said, null before it", () => {
  const t = new SessionTracker(["users"]);
  expect(t.expectedOf("users")).toBeNull();
  t.markEos("users", 3);
  expect(t.expectedOf("users")).toBe(3);
});
