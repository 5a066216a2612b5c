import { afterEach, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Supervisor } from "./supervisor.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Descriptors this process holds open on `path` (Linux: /proc/self/fd). */
function openOn(path: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed while we looked
    }
  }).length;
}

test.skipIf(process.platform !== "linux")("a child's log file is open in the child only: restarts leak no descriptor", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-supervisor-"));
  dirs.push(dir);
  let exits = 0;
  let exited: () => void = () => {};
  const supervisor = new Supervisor(dir, (m) => { if (m.includes("exited")) { exits++; exited(); } }, () => {}, () => null);
  supervisor.start({ name: "echo", role: "test", argv: ["sh", "-c", "echo started"], env: {}, healthPort: 0 });
  for (let i = 0; i < 5; i++) {
    while (exits <= i) await new Promise<void>((r) => (exited = r));
    void supervisor.startByName("echo");
  }
  while (exits < 6) await new Promise<void>((r) => (exited = r));
  const log = join(dir, "echo.log");
  expect(readFileSync(log, "utf8")).toBe("started\n".repeat(6));
  expect(openOn(log)).toBe(0);
  await supervisor.stopAll();
});

test("a restart that cannot spawn is tried again later, and coffee up goes on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-supervisor-"));
  const bin = mkdtempSync(join(tmpdir(), "coffee-supervisor-bin-"));
  dirs.push(dir, bin);
  const prog = join(bin, "prog");
  writeFileSync(prog, "#!/bin/sh\necho ran\n");
  chmodSync(prog, 0o755);
  const logDir = join(dir, "logs");
  const lines: string[] = [];
  let exits = 0;
  let changed: () => void = () => {};
  const supervisor = new Supervisor(logDir, (m) => {
    lines.push(m);
    if (m.includes("exited") && ++exits === 1) {
      // Before the restart: the executable and the log directory are gone.
      rmSync(prog);
      rmSync(logDir, { recursive: true });
    }
    // Put back after the failed attempt, so a later one succeeds.
    if (m.includes("could not restart")) writeFileSync(prog, "#!/bin/sh\necho ran\n", { mode: 0o755 });
    changed();
  }, () => {}, () => "backoff");
  supervisor.start({ name: "prog", role: "test", argv: [prog], env: {}, healthPort: 0 });
  while (exits < 2) await new Promise<void>((r) => (changed = r));
  await supervisor.stopAll();
  expect(lines.some((l) => /could not restart prog: .*; trying again/.test(l))).toBe(true);
  expect(readFileSync(join(logDir, "prog.log"), "utf8")).toContain("ran");
  expect(supervisor.list()[0]!.restarts).toBe(1);
});

test("two requests to replace one hung child start one successor, not two", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-supervisor-"));
  dirs.push(dir);
  const lines: string[] = [];
  const supervisor = new Supervisor(dir, (m) => lines.push(m), () => {}, () => null);
  supervisor.start({ name: "w", role: "test", argv: ["sleep", "60"], env: {}, healthPort: 0 });
  const [old] = supervisor.list();
  // The second arrives while the first waits for the killed process to exit.
  const [a, b] = await Promise.all([supervisor.startByName("w", true), supervisor.startByName("w", true)]);
  expect(a).toEqual(b);
  expect(a?.started).toBe(true);
  expect(a?.pid).not.toBe(old?.pid);
  expect(lines.filter((l) => l.startsWith("killed w"))).toHaveLength(1);
  expect(lines.filter((l) => l.includes("starting w at the request of"))).toHaveLength(0);
  // The one successor is the one tracked, and the one stopAll stops.
  expect(supervisor.list().map((c) => [c.pid, c.alive])).toEqual([[a!.pid, true]]);
  await supervisor.stopAll(1000);
});

test("a change that cannot be recorded (cluster.json on a full disk) is logged and the child restarted all the same", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-supervisor-"));
  dirs.push(dir);
  const lines: string[] = [];
  let exits = 0;
  let changed: () => void = () => {};
  let recordable = false;
  const supervisor = new Supervisor(dir, (m) => {
    lines.push(m);
    if (m.includes("exited")) exits++;
    changed();
  }, () => {
    if (!recordable) throw new Error("ENOSPC: no space left on device, write");
  }, () => "backoff");
  supervisor.start({ name: "once", role: "test", argv: ["sh", "-c", "echo ran"], env: {}, healthPort: 0 });
  // Every start and exit failed to record; the child ran, exited, and was started again each time.
  while (exits < 3) await new Promise<void>((r) => (changed = r));
  recordable = true;
  await supervisor.stopAll();
  expect(lines.filter((l) => l === "could not record the change: ENOSPC: no space left on device, write").length).toBeGreaterThanOrEqual(5);
  expect(lines.filter((l) => l.startsWith("restarting once")).length).toBeGreaterThanOrEqual(2);
  expect(readFileSync(join(dir, "once.log"), "utf8")).toStartWith("ran\nran\nran\n");
});

test("after its log is rotated, a child's exit report reads the log from its beginning", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-supervisor-"));
  dirs.push(dir);
  const earlier = "an earlier run\n";
  const froms: number[] = [];
  let exited: () => void = () => {};
  const supervisor = new Supervisor(dir, () => {}, () => {}, () => null, "left", (_spec, _code, logFrom) => {
    froms.push(logFrom);
    exited();
  });
  for (const rotate of [false, true]) {
    writeFileSync(join(dir, "w.log"), earlier);
    const exit = new Promise<void>((r) => (exited = r));
    if (rotate) void supervisor.startByName("w");
    else supervisor.start({ name: "w", role: "test", argv: ["sleep", "30"], env: {}, healthPort: 0 });
    if (rotate) supervisor.logRotated("w");
    process.kill(supervisor.list()[0]!.pid!, "SIGKILL");
    await exit;
  }
  expect(froms).toEqual([earlier.length, 0]);
  await supervisor.stopAll();
});
