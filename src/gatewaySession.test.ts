import { describe, expect, test } from "bun:test";
import { newSession, allResultsComplete, uploadOver } from "./gatewaySession.ts";
import type { ResultPump } from "./resultPump.ts";
import { ENTITIES, QUERIES, type QueryName } from "./schema.ts";

/** Chunks 0..count-1 of `query`, the last one marked last. */
const chunksOf = (query: QueryName, count: number) =>
  Array.from({ length: count }, (_, chunk) => ({ query, chunk, last: chunk === count - 1 }));

describe("allResultsComplete", () => {
  test("complete once every query has its chunks up to the last", () => {
    expect(allResultsComplete(QUERIES.flatMap((q) => chunksOf(q, 3)))).toBe(true);
    expect(allResultsComplete(QUERIES.flatMap((q) => chunksOf(q, 1)))).toBe(true);
  });

  test("arrival order does not matter", () => {
    expect(allResultsComplete(QUERIES.flatMap((q) => chunksOf(q, 4)).reverse())).toBe(true);
  });

  test("a query without its last chunk, or with a gap before it, is not complete", () => {
    const all = QUERIES.flatMap((q) => chunksOf(q, 3));
    expect(allResultsComplete(all.filter((c) => !(c.query === "q2" && c.last)))).toBe(false);
    expect(allResultsComplete(all.filter((c) => !(c.query === "q3" && c.chunk === 1)))).toBe(false);
    expect(allResultsComplete(all.filter((c) => c.query !== "q4"))).toBe(false);
    expect(allResultsComplete([])).toBe(false);
  });
});

describe("uploadOver", () => {
  test("only once every entity's end-of-stream was received", () => {
    // The pump is not touched by uploadOver.
    const s = newSession("s", {} as ResultPump);
    for (const e of ENTITIES) {
      expect(uploadOver(s)).toBe(false);
      s.eosCount.set(e, 0);
    }
    expect(uploadOver(s)).toBe(true);
  });
});
