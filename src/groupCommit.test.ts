import { expect, test } from "bun:test";
import { WalError } from "./errors.ts";
import { GroupCommit } from "./groupCommit.ts";

/** Whether `p` settled by the time a macrotask ran (a commit of the group is one microtask chain). */
async function settles(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setImmediate(r));
  return settled;
}

test("what waits for a commit runs once it is durable, one commit for a turn's worth", async () => {
  let commits = 0;
  const group = new GroupCommit(async () => void commits++, () => {});
  const ran: string[] = [];
  group.after(() => ran.push("a"));
  group.after(() => ran.push("b"));
  expect(ran).toEqual([]);
  await new Promise((r) => setImmediate(r));
  await Promise.resolve();
  expect(ran).toEqual(["a", "b"]);
  expect(commits).toBe(1);
  await group.now();
  expect(commits).toBe(2);
});

test("a failed commit is told to fatal once; what waited for it, or waits later, never runs, and now() never returns", async () => {
  const failure = new WalError("WAL_FSYNC_FAILED", "fsync failed");
  let commits = 0;
  const told: unknown[] = [];
  const group = new GroupCommit(async () => {
    commits++;
    throw failure;
  }, (err) => void told.push(err));
  const ran: string[] = [];
  group.after(() => ran.push("before"));
  expect(await settles(group.now())).toBe(false);
  expect(told).toEqual([failure]);
  group.after(() => ran.push("after"));
  expect(await settles(group.now())).toBe(false);
  expect(ran).toEqual([]);
  // Stopped: the log is not asked to commit again.
  expect(commits).toBe(1);
});

test("stop() drops what waits and commits nothing more", async () => {
  let commits = 0;
  const group = new GroupCommit(async () => void commits++, () => {});
  const ran: string[] = [];
  group.after(() => ran.push("queued"));
  group.stop();
  group.after(() => ran.push("later"));
  expect(await settles(group.now())).toBe(false);
  expect(ran).toEqual([]);
  expect(commits).toBe(0);
});

test("a commit under way when the group stops runs nothing that waited for it", async () => {
  const { promise: committing, resolve: durable } = Promise.withResolvers<void>();
  const group = new GroupCommit(() => committing, () => {});
  const ran: string[] = [];
  group.after(() => ran.push("acked"));
  const now = group.now();
  // Another write failed meanwhile: the role halts while this commit is on its way to the disk.
  group.stop();
  durable();
  expect(await settles(now)).toBe(false);
  expect(ran).toEqual([]);
});
