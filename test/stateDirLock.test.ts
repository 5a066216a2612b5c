/**
 * One process per state directory (real processes, the real broker): a second aggregator on the
 * same write-ahead log is refused before it reads it, and a SIGKILLed holder's lock is free at once.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { coffeeArgv, runCoffee, tempDir, uniqueNamespace } from "./harness.ts";

setDefaultTimeout(60_000);

const state = tempDir("lock");
const namespace = uniqueNamespace("lock");
const url = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const spawned: ReturnType<typeof Bun.spawn>[] = [];
afterAll(async () => {
  for (const p of spawned) p.kill("SIGKILL");
  await Promise.all(spawned.map((p) => p.exited));
  await deleteNamespace({ url }, namespace).catch(() => {});
  rmSync(state, { recursive: true, force: true });
});

const args = ["--role", "aggregator", "--query", "q2", "--state-dir", state, "--namespace", namespace];
const env = { ...process.env, AMQP_URL: url } as Record<string, string>;
const lockFile = join(state, "agg-q2", "LOCK");

/** Start an aggregator and wait until it holds the lock (it writes its pid there once it does). */
async function holder(): Promise<ReturnType<typeof Bun.spawn>> {
  const p = Bun.spawn(coffeeArgv(...args), { env, stdout: "ignore", stderr: "ignore" });
  spawned.push(p);
  const deadline = performance.now() + 30_000;
  while (!(existsSync(lockFile) && readFileSync(lockFile, "utf8").trim() === String(p.pid))) {
    if (performance.now() > deadline || p.exitCode !== null) throw new Error("the aggregator never took its state directory's lock");
    await Bun.sleep(20);
  }
  return p;
}

test("a second aggregator on a held state directory is CONFIG_INVALID naming the holder; after a SIGKILL the next one takes it", async () => {
  const first = await holder();
  const second = await runCoffee(args, env);
  expect(second.code).toBe(2);
  expect(second.stderr).toContain(`CONFIG_INVALID: state directory ${join(state, "agg-q2")} is in use by another process (pid ${first.pid})`);
  first.kill("SIGKILL");
  await first.exited;
  const third = await holder();
  expect(third.pid).not.toBe(first.pid);
});
