import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientProgress } from "./clientProgress.ts";
import type { DatasetFile } from "./datasetCheck.ts";
import type { Entity } from "./schema.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-progress-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A dataset file of `bytes` bytes (or one that does not exist, with null). */
function file(name: string, bytes: number | null): DatasetFile {
  const path = join(dir, name);
  if (bytes !== null) writeFileSync(path, "x".repeat(bytes));
  return { path } as DatasetFile;
}

describe("ClientProgress", () => {
  test("an entity is done only once it ended, its end of stream is confirmed and every row sent is acknowledged", () => {
    const eos = new Set<Entity>();
    const p = new ClientProgress(new Map([["stores", [file("a.csv", 100), file("b.csv", 50)]]]), 0, (e) => eos.has(e));
    const stores = (): ReturnType<ClientProgress["view"]>["entities"][number] => p.view().entities[0]!;
    expect(stores()).toMatchObject({ name: "stores", totalBytes: 150, phase: "waiting" });
    p.started("stores", 10);
    p.sent("stores", 7, 60);
    p.sent("stores", 3, 120);
    p.rejectedHere("stores");
    expect(stores()).toMatchObject({ phase: "sending", startedMs: 10, rowsSent: 10, bytesSent: 120, rejected: 1 });
    p.ended("stores", 20);
    // Sent to the end: the estimate says every byte, whatever the last batch reported.
    expect(stores()).toMatchObject({ phase: "acking", bytesSent: 150 });
    p.acked("stores", 7, 2, 30);
    eos.add("stores");
    p.eosAcked("stores", 40);
    expect(stores().phase).toBe("acking");
    p.acked("stores", 3, 0, 50);
    expect(stores()).toMatchObject({ phase: "done", doneMs: 50, rowsAcked: 10, rejected: 3 });
    expect([p.rowsSent, p.rowsRejectedHere]).toEqual([10, 1]);
  });

  test("all batches acknowledged before the end of stream is: done when its confirm comes", () => {
    let eos = false;
    const p = new ClientProgress(new Map([["users", [file("u.csv", 10)]]]), 0, () => eos);
    p.started("users", 0);
    p.sent("users", 5, 10);
    p.ended("users", 1);
    p.acked("users", 5, 0, 2);
    expect(p.view().entities[0]!.phase).toBe("acking");
    eos = true;
    p.eosAcked("users", 3);
    expect(p.view().entities[0]).toMatchObject({ phase: "done", doneMs: 3 });
  });

  test("a file that cannot be read leaves its entity's size unknown", () => {
    const p = new ClientProgress(new Map([["menu_items", [file("m.csv", 10), file("gone.csv", null)]]]), 0, () => false);
    expect(p.view().entities[0]!.totalBytes).toBeNull();
    expect(p.fileSizes.get(join(dir, "gone.csv"))).toBeNull();
    expect(p.fileSizes.get(join(dir, "m.csv"))).toBe(10);
  });

  test("a query is complete when its file is, not when its last chunk came; a snapshot does not change afterwards", () => {
    const p = new ClientProgress(new Map(), 0, () => false);
    p.resultChunk("q2", false, 5);
    const before = p.snapshot();
    p.resultChunk("q2", true, 9);
    p.resultChunk("q2", true, 12);
    expect(p.view().queries.find((q) => q.name === "q2")).toEqual({ name: "q2", chunks: 3, completeMs: 9 });
    expect(before.queries.find((q) => q.name === "q2")).toEqual({ name: "q2", chunks: 1, completeMs: null });
  });
});
