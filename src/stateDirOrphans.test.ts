import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stateDirOrphans } from "./stateDirOrphans.ts";

let dir = "";
const spawned: Bun.Subprocess[] = [];
afterEach(async () => {
  for (const p of spawned.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const lock = (name: string, pid: number): void => {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, "LOCK"), `${pid}\n`);
};

test.skipIf(process.platform !== "linux")("names the coffee processes of LOCK files that still run; other programs and dead pids are left out", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-orphans-"));
  // A process whose command line has --role, as every coffee role's does.
  // Two commands, so bash stays (one alone it would exec, with sleep's command line).
  const role = Bun.spawn(["bash", "-c", "sleep 30; true", "bash", "--role", "aggregator"]);
  const other = Bun.spawn(["sleep", "30"]);
  spawned.push(role, other);
  const gone = Bun.spawn(["true"]);
  await gone.exited;
  lock("agg-q2", role.pid);
  lock("gateway", other.pid);
  lock("agg-q1", gone.pid);
  mkdirSync(join(dir, "logs"));
  expect(stateDirOrphans(dir)).toEqual([{ name: "agg-q2", pid: role.pid, stopped: false }]);
  expect(stateDirOrphans(join(dir, "none"))).toEqual([]);
});
