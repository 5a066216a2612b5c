import { expect, test } from "bun:test";
import { chunkLines } from "./chunkLines.ts";

test("chunks keep every line once, in order, and respect the size", () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `row-${i},${i * 7}.5\n`);
  const chunks = chunkLines(lines, 200);
  expect(chunks.join("")).toBe(lines.join(""));
  expect(chunks.length).toBeGreaterThan(50);
  for (const c of chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(200);
  for (const c of chunks) expect(c.endsWith("\n")).toBe(true);
});

test("an empty result is one empty chunk, a header-only result one chunk", () => {
  expect(chunkLines([], 100)).toEqual([""]);
  expect(chunkLines(["h\n"], 100)).toEqual(["h\n"]);
});
