import { expect, test } from "bun:test";
import type { ClusterProcess } from "../clusterPlan.ts";
import { killable } from "./chaos.ts";

const proc = (name: string, role: ClusterProcess["role"], extra: Partial<ClusterProcess> = {}): ClusterProcess =>
  ({ name, role, pid: 100 + name.length, alive: true, healthPort: 1, ...extra });

test("chaos kills only running processes of their own, of the chosen roles", () => {
  const entries = [
    proc("gateway", "gateway"),
    proc("agg-q1", "aggregator", { inProcess: true, pid: 7 }),
    proc("tx-chain-1", "worker", { alive: false }),
    proc("items-chain-1", "worker", { pid: null }),
    proc("items-chain-2", "worker"),
    proc("monitor-1", "monitor"),
  ];
  expect(killable(entries, ["gateway", "worker", "aggregator"]).map((e) => e.name)).toEqual(["gateway", "items-chain-2"]);
  expect(killable(entries, ["monitor"]).map((e) => e.name)).toEqual(["monitor-1"]);
});
