import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DataMessage } from "../codec.ts";
import { InternalError, type WalError } from "../errors.ts";
import { packColumn } from "../textColumn.ts";
import { Q1_RUN_ID_CHARS, q1Reducer } from "./q1.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-q1-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A transactions batch of Q1 rows with ids `t-<seq>-<i>`, each padded to `idLength` characters if that is longer. */
const batch = (seq: number, rows: number, idLength = 0): DataMessage => ({
  kind: "data", session: "s", entity: "transactions", seq, bodyKind: "transactions",
  body: {
    id: packColumn(Array.from({ length: rows }, (_, i) => `t-${seq}-${i}`.padEnd(idLength, "x"))), store: new Int32Array(rows), user: new Int32Array(rows),
    cents: Float64Array.from({ length: rows }, (_, i) => 7500 + i), date: new Int32Array(rows).fill(20240101), time: new Int32Array(rows).fill(36000),
  },
} as DataMessage);

test("a batch whose spill fails is not applied at all, so applying it again counts its rows once", () => {
  const blocked = join(dir, "blocked");
  writeFileSync(blocked, "");
  // The spill directory is under a regular file: writing the run fails.
  const written: string[] = [];
  const ctx = { spillDir: join(blocked, "spill"), spillRows: 5, wroteFile: (p: string) => void written.push(p) };
  const state = q1Reducer.create(ctx);
  q1Reducer.apply(state, batch(0, 3), ctx);
  let code = "";
  try {
    q1Reducer.apply(state, batch(1, 4), ctx);
  } catch (err) {
    code = (err as WalError).code;
  }
  expect(code).toBe("WAL_IO_FAILED");
  expect(state.ids).toHaveLength(3);
  expect(state.runs).toEqual([]);

  // The disk is back (here: another directory); the redelivered batch goes through once.
  state.spillDir = join(dir, "spill");
  expect(written).toEqual([]);
  q1Reducer.apply(state, batch(1, 4), ctx);
  const lines = [...q1Reducer.finish(state)];
  expect(lines).toHaveLength(1 + 7);
  expect(new Set(lines).size).toBe(lines.length);
  expect(state.runs).toEqual(["run-0.run"]);
  // Told of the run it wrote, to be made durable before a snapshot names it.
  expect(written).toEqual([join(dir, "spill", "run-0.run")]);
});

test("a run is not written when no one would be told of it (it could never be made durable)", () => {
  const state = q1Reducer.create({ spillDir: join(dir, "untold"), spillRows: 2 });
  expect(() => q1Reducer.apply(state, batch(0, 3))).toThrow(InternalError);
  // All or nothing: the batch is not applied, and nothing was written.
  expect(state.ids).toHaveLength(0);
  expect(existsSync(join(dir, "untold"))).toBe(false);
});

test("long ids go to disk by their size, not only by row count: memory follows the bytes held", () => {
  // 64 KiB ids, the gateway's --max-field-bytes: 50 000 of them held 3 GB per session before.
  const ctx = { spillDir: join(dir, "long-ids"), wroteFile: () => {} };
  const state = q1Reducer.create(ctx);
  const perBatch = 16;
  const idLength = 65_000;
  const batches = Math.ceil(Q1_RUN_ID_CHARS / (perBatch * idLength)) + 1;
  for (let seq = 0; seq < batches; seq++) q1Reducer.apply(state, batch(seq, perBatch, idLength), ctx);
  expect(state.runs).toEqual(["run-0.run"]);
  expect(state.idChars).toBe(state.ids.length * idLength);
  expect(state.idChars).toBeLessThan(Q1_RUN_ID_CHARS);
  // A state restored from a snapshot without the count (an older build's) counts it again.
  const { idChars: _, ...older } = state;
  expect(q1Reducer.restore!(older as typeof state, { spillDir: join(dir, "long-ids") }).idChars).toBe(state.idChars);
  const lines = [...q1Reducer.finish(state)];
  expect(lines).toHaveLength(1 + batches * perBatch);
  expect(lines.slice(1).map((l) => l.split(",")[0]!)).toEqual(lines.slice(1).map((l) => l.split(",")[0]!).sort());
});
