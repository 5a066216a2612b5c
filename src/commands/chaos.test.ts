import { expect, test } from "bun:test";
import type { ClusterProcess } from "../clusterPlan.ts";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { clientRunOutcome, killable, prepareChaosDir } from "./chaos.ts";

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

test("chaos empties only a folder that is new, empty or its own, and marks it as its own", () => {
  const root = mkdtempSync(join(tmpdir(), "coffee-chaosdir-"));
  try {
    const fresh = join(root, "fresh");
    prepareChaosDir(fresh);
    expect(readdirSync(fresh)).toEqual([".coffee-chaos"]);
    // An earlier run's leftovers (--keep) go.
    writeFileSync(join(fresh, "old-result.csv"), "");
    prepareChaosDir(fresh);
    expect(readdirSync(fresh)).toEqual([".coffee-chaos"]);
    // Someone else's folder is refused, and kept as it was.
    const theirs = join(root, "theirs");
    mkdirSync(theirs);
    writeFileSync(join(theirs, "precious.txt"), "mine");
    expect(() => prepareChaosDir(theirs)).toThrow(ConfigError);
    expect(readdirSync(theirs)).toEqual(["precious.txt"]);
    writeFileSync(join(root, "a-file"), "");
    expect(() => prepareChaosDir(join(root, "a-file"))).toThrow("is a file, not a folder");
    const empty = join(root, "empty");
    mkdirSync(empty);
    prepareChaosDir(empty);
    expect(readdirSync(empty)).toEqual([".coffee-chaos"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a chaos client stopped by SIGINT from outside the run is interrupted, not failed; any other exit is judged as before", () => {
  const done = "session abc: 92714 rows read, 0 rejected, 92714 rows sent, 1.2 s; results in /tmp/x/session_abc\n";
  expect(clientRunOutcome(130, "")).toEqual({ type: "interrupted" });
  expect(clientRunOutcome(0, done)).toEqual({ type: "finished", sessionDir: "/tmp/x/session_abc" });
  // Stopped by chaos itself (SIGTERM), or failed, or exited 0 without saying where its results are.
  expect(clientRunOutcome(143, "")).toEqual({ type: "failed" });
  expect(clientRunOutcome(1, done)).toEqual({ type: "failed" });
  expect(clientRunOutcome(0, "")).toEqual({ type: "failed" });
  expect(clientRunOutcome(null, "")).toEqual({ type: "failed" });
});
