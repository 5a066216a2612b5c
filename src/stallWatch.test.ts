import { expect, test } from "bun:test";
import type { Session } from "./gatewaySession.ts";
import type { StoredChunk } from "./gatewayStore.ts";
import { ENTITIES, QUERIES } from "./schema.ts";
import { isStalled } from "./stallWatch.ts";

const chunk = (query: StoredChunk["query"], n: number, last = false): StoredChunk => ({ query, chunk: n, last, ref: { offset: 0, length: 1 } });
const session = (eos: readonly string[] = ENTITIES): Pick<Session, "eosConfirmed" | "progress"> =>
  ({ eosConfirmed: new Set(eos), progress: { mark: -1, sinceMs: 0 } }) as Pick<Session, "eosConfirmed" | "progress">;

test("a session still uploading never stalls", () => {
  const s = session(ENTITIES.slice(1));
  expect(isStalled(s, [], 0, 100)).toBe(false);
  expect(isStalled(s, [], 1_000_000, 100)).toBe(false);
});

test("after the upload, the timeout runs from the first look and again from each new chunk", () => {
  const s = session();
  expect(isStalled(s, [], 1000, 100)).toBe(false);
  expect(isStalled(s, [], 1099, 100)).toBe(false);
  expect(isStalled(s, [chunk("q1", 0)], 1150, 100)).toBe(false);
  expect(isStalled(s, [chunk("q1", 0)], 1249, 100)).toBe(false);
  expect(isStalled(s, [chunk("q1", 0)], 1250, 100)).toBe(true);
});

test("a session with every result stored never stalls, however long its delivery takes", () => {
  const s = session();
  const all = QUERIES.map((q) => chunk(q, 0, true));
  expect(isStalled(s, all, 0, 100)).toBe(false);
  expect(isStalled(s, all, 1_000_000, 100)).toBe(false);
});

test("while the broker takes no publishes the deadline does not run; it starts afresh once it does", () => {
  const s = session();
  expect(isStalled(s, [], 1000, 100)).toBe(false);
  expect(isStalled(s, [], 1099, 100, true)).toBe(false);
  expect(isStalled(s, [], 5000, 100, true)).toBe(false);
  expect(isStalled(s, [], 5099, 100)).toBe(false);
  expect(isStalled(s, [], 5100, 100)).toBe(true);
});
