import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readClusterFile, tryReadClusterFile, type ClusterProcess } from "./clusterPlan.ts";
import { ClusterWatch, type ClusterWatchEvent } from "./clusterWatch.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-clusterwatch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gateway: ClusterProcess = { name: "gateway", role: "gateway", pid: 1, alive: true, healthPort: 4000 };
const worker: ClusterProcess = { name: "worker-1", role: "worker", pid: 2, alive: true, healthPort: 4001 };

test("tryReadClusterFile says what is wrong with a file, and keeps the entries it can use", () => {
  const file = join(dir, "check.json");
  const read = (content: string | null) => {
    if (content === null) rmSync(file, { force: true });
    else writeFileSync(file, content);
    return tryReadClusterFile(file);
  };
  expect(read(null)).toEqual({ processes: [], problem: expect.stringContaining("ENOENT") });
  expect(read("[{")).toEqual({ processes: [], problem: expect.stringContaining("is not JSON") });
  expect(read("{}")).toEqual({ processes: [], problem: expect.stringContaining("must hold a JSON array") });
  const mixed = read(JSON.stringify([gateway, { ...worker, role: "client" }, { ...worker, name: "w2", healthPort: "4000" }, { role: "worker", healthPort: 1 }, worker]));
  expect(mixed.processes).toEqual([gateway, worker]);
  expect(mixed.problem).toBe(`${file}: 3 entries left out (entry 1: worker-1: role must be one of gateway, worker, aggregator, monitor; entry 2: w2: healthPort must be a port number; entry 3: no name)`);
  expect(readClusterFile(file)).toEqual([gateway, worker]);
  expect(read(JSON.stringify([gateway]))).toEqual({ processes: [gateway], problem: null });
});

test("a watch reports each new problem once, and its end", () => {
  const file = join(dir, "cluster.json");
  const events: ClusterWatchEvent[] = [];
  const watch = new ClusterWatch(file, (e) => events.push(e));
  expect(watch.read()).toEqual([]);
  expect(watch.read()).toEqual([]);
  expect(events).toEqual([{ type: "problem", problem: expect.stringContaining("ENOENT"), processes: 0 }]);

  writeFileSync(file, JSON.stringify([gateway]));
  expect(watch.read()).toEqual([gateway]);
  expect(watch.read()).toEqual([gateway]);
  expect(events.slice(1)).toEqual([{ type: "fixed", processes: 1 }]);
  expect(watch.problem).toBeNull();

  writeFileSync(file, JSON.stringify([gateway, { name: "x" }]));
  expect(watch.read()).toEqual([gateway]);
  expect(events.slice(2)).toEqual([{ type: "problem", problem: expect.stringContaining("entry 1: x: role"), processes: 1 }]);
  watch.reset();
  expect(watch.problem).toBeNull();
});

test("a usable file from the start reports nothing", () => {
  const file = join(dir, "fine.json");
  writeFileSync(file, JSON.stringify([gateway]));
  const events: ClusterWatchEvent[] = [];
  new ClusterWatch(file, (e) => events.push(e)).read();
  expect(events).toEqual([]);
});
