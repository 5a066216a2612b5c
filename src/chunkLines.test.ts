import { expect, test } from "bun:test";
import { chunkLines } from "./chunkLines.ts";

test("chunks keep every line once, in order, and respect the size", () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `row-${i},${i * 7}.5\n`);
  let seen = 0;
  const chunks = [...chunkLines(lines, { size: 200, unit: "bytes" }, () => seen++)];
  expect(seen).toBe(1000);
  expect(chunks.join("")).toBe(lines.join(""));
  expect(chunks.length).toBeGreaterThan(50);
  for (const c of chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(200);
  for (const c of chunks) expect(c.endsWith("\n")).toBe(true);
});

test("lines are pulled as chunks are taken, not all at once", () => {
  let pulled = 0;
  function* lines(): Generator<string> {
    for (let i = 0; i < 100; i++) { pulled++; yield "0123456789\n"; }
  }
  const it = chunkLines(lines(), { size: 50, unit: "bytes" })[Symbol.iterator]();
  it.next();
  expect(pulled).toBe(5);
});

test("no lines give no chunk; a header-only result one chunk", () => {
  expect([...chunkLines([], { size: 100, unit: "bytes" })]).toEqual([]);
  expect([...chunkLines(["h\n"], { size: 100, unit: "bytes" })]).toEqual(["h\n"]);
});

test("the size is counted in UTF-8 bytes, not characters", () => {
  const line = "Café €€€\n"; // 9 characters, 15 bytes
  const chunks = [...chunkLines(Array.from({ length: 40 }, () => line), { size: 60, unit: "bytes" })];
  for (const c of chunks.slice(0, -1)) {
    expect(Buffer.byteLength(c)).toBeGreaterThanOrEqual(60);
    expect(Buffer.byteLength(c)).toBeLessThan(60 + 15);
  }
  expect(chunks[0]).toBe(line.repeat(4));
});

test("a cut in characters (from an older build's log) cuts where that build did", () => {
  const line = "Café €€€\n"; // 9 characters
  const chunks = [...chunkLines(Array.from({ length: 40 }, () => line), { size: 60, unit: "chars" })];
  expect(chunks[0]).toBe(line.repeat(7));
});

test("a chunk is cut after the line that brings it exactly to the size (re-cuts after a restart must fall on the same lines)", () => {
  expect([...chunkLines(["ab", "cd", "ef"], { size: 2, unit: "bytes" })]).toEqual(["ab", "cd", "ef"]);
  expect([...chunkLines(["a", "b", "c", "d"], { size: 2, unit: "chars" })]).toEqual(["ab", "cd"]);
});
