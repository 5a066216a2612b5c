import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DataMessage } from "../codec.ts";
import type { WalError } from "../errors.ts";
import { packColumn } from "../textColumn.ts";
import { q1Reducer } from "./q1.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-q1-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A transactions batch of Q1 rows with ids `t-<seq>-<i>`. */
const batch = (seq: number, rows: number): DataMessage => ({
  kind: "data", session: "s", entity: "transactions", seq, bodyKind: "transactions",
  body: {
    id: packColumn(Array.from({ length: rows }, (_, i) => `t-${seq}-${i}`)), store: new Int32Array(rows), user: new Int32Array(rows),
    cents: Float64Array.from({ length: rows }, (_, i) => 7500 + i), date: new Int32Array(rows).fill(20240101), time: new Int32Array(rows).fill(36000),
  },
} as DataMessage);

test("a batch whose spill fails is not applied at all, so applying it again counts its rows once", () => {
  const blocked = join(dir, "blocked");
  writeFileSync(blocked, "");
  // The spill directory is under a regular file: writing the run fails.
  const state = q1Reducer.create({ spillDir: join(blocked, "spill"), spillRows: 5 });
  q1Reducer.apply(state, batch(0, 3));
  let code = "";
  try {
    q1Reducer.apply(state, batch(1, 4));
  } catch (err) {
    code = (err as WalError).code;
  }
  expect(code).toBe("WAL_IO_FAILED");
  expect(state.ids).toHaveLength(3);
  expect(state.runs).toEqual([]);

  // The disk is back (here: another directory); the redelivered batch goes through once.
  state.spillDir = join(dir, "spill");
  q1Reducer.apply(state, batch(1, 4));
  const lines = [...q1Reducer.finish(state)];
  expect(lines).toHaveLength(1 + 7);
  expect(new Set(lines).size).toBe(lines.length);
  expect(state.runs).toEqual(["run-0.run"]);
});
