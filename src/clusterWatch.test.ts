import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tryReadClusterFile, type ClusterProcess } from "./clusterPlan.ts";
import { ClusterWatch, type ClusterWatchEvent } from "./clusterWatch.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-clusterwatch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gateway: ClusterProcess = { name: "gateway", role: "gateway", pid: 1, alive: true, healthPort: 4000 };

test("tryReadClusterFile says what is wrong with a file it cannot use", () => {
  const file = join(dir, "check.json");
  const problemOf = (content: string | null): string => {
    if (content === null) rmSync(file, { force: true });
    else writeFileSync(file, content);
    const read = tryReadClusterFile(file);
    return read.ok ? "" : read.problem;
  };
  expect(problemOf(null)).toContain("ENOENT");
  expect(problemOf("[{")).toContain("is not JSON");
  expect(problemOf("{}")).toContain("must hold a JSON array");
  expect(problemOf(JSON.stringify([gateway, { ...gateway, name: "x", role: "client" }]))).toContain("entry 1: x: role must be one of");
  expect(problemOf(JSON.stringify([{ ...gateway, healthPort: "4000" }]))).toContain("entry 0: gateway: healthPort");
  expect(problemOf(JSON.stringify([{ role: "worker", healthPort: 1 }]))).toContain("entry 0: no name");
  expect(tryReadClusterFile(file)).toMatchObject({ ok: false });
  writeFileSync(file, JSON.stringify([gateway]));
  expect(tryReadClusterFile(file)).toEqual({ ok: true, processes: [gateway] });
});

test("a watch reports each new problem once, and the file becoming usable again", () => {
  const file = join(dir, "cluster.json");
  const events: ClusterWatchEvent[] = [];
  const watch = new ClusterWatch(file, (e) => events.push(e));
  expect(watch.read()).toEqual([]);
  expect(watch.read()).toEqual([]);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ type: "unusable", problem: expect.stringContaining("ENOENT") });
  expect(watch.isUsable).toBe(false);

  writeFileSync(file, JSON.stringify([gateway]));
  expect(watch.read()).toEqual([gateway]);
  expect(watch.read()).toEqual([gateway]);
  expect(events.slice(1)).toEqual([{ type: "usable", processes: 1 }]);
  expect(watch.isUsable).toBe(true);

  writeFileSync(file, "not json");
  expect(watch.read()).toEqual([]);
  expect(events.slice(2)).toMatchObject([{ type: "unusable", problem: expect.stringContaining("is not JSON") }]);
});

test("a usable file from the start reports nothing", () => {
  const file = join(dir, "fine.json");
  writeFileSync(file, JSON.stringify([gateway]));
  const events: ClusterWatchEvent[] = [];
  new ClusterWatch(file, (e) => events.push(e)).read();
  expect(events).toEqual([]);
});
