import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "crashpt-"));
/** Our environment with COFFEE_CRASH_POINTS_DIR set to `value`. */
const withPoints = (value: string): Record<string, string | undefined> => ({ ...process.env, COFFEE_CRASH_POINTS_DIR: value });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run a process named `name`, with environment `env`, that passes `worker.output-confirmed` twice, printing after each pass. */
async function passTwice(name: string, env: Record<string, string | undefined>): Promise<{ signal: NodeJS.Signals | number | null; code: number | null; stdout: string }> {
  const script = `import { crashPoint, nameCrashPointProcess } from ${JSON.stringify(`${import.meta.dir}/crashPoint.ts`)};
nameCrashPointProcess(${JSON.stringify(name)});
crashPoint("worker.output-confirmed"); console.log("passed");
crashPoint("worker.output-confirmed"); console.log("passed");`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", env });
  const stdout = await new Response(child.stdout).text();
  await child.exited;
  return { signal: child.signalCode, code: child.exitCode, stdout };
}

test("an armed point SIGKILLs the first process that reaches it, once; the file says which process fired it", async () => {
  writeFileSync(join(dir, "worker.output-confirmed"), "*");
  const first = await passTwice("w-1", withPoints(dir));
  expect(first.signal).toBe("SIGKILL");
  expect(first.stdout).toBe("");
  const fired = readdirSync(dir).filter((n) => n.startsWith("worker.output-confirmed.fired-by-w-1-"));
  expect(fired).toHaveLength(1);
  expect(existsSync(join(dir, "worker.output-confirmed"))).toBe(false);
  // Its revival runs through: the point is no longer armed.
  expect(await passTwice("w-1", withPoints(dir))).toEqual({ signal: null, code: 0, stdout: "passed\npassed\n" });
  rmSync(join(dir, fired[0]!));
});

test("a point armed for one process leaves the others running and stays armed", async () => {
  writeFileSync(join(dir, "worker.output-confirmed"), "agg-q1\n");
  expect(await passTwice("w-1", withPoints(dir))).toEqual({ signal: null, code: 0, stdout: "passed\npassed\n" });
  expect(existsSync(join(dir, "worker.output-confirmed"))).toBe(true);
  expect((await passTwice("agg-q1", withPoints(dir))).signal).toBe("SIGKILL");
});

test("an empty file (one being written) arms nothing", async () => {
  writeFileSync(join(dir, "worker.output-confirmed"), "");
  expect(await passTwice("w-1", withPoints(dir))).toEqual({ signal: null, code: 0, stdout: "passed\npassed\n" });
  expect(existsSync(join(dir, "worker.output-confirmed"))).toBe(true);
});

test("with COFFEE_CRASH_POINTS_DIR unset or empty nothing fires, armed files or not", async () => {
  writeFileSync(join(dir, "worker.output-confirmed"), "*");
  const { COFFEE_CRASH_POINTS_DIR: _, ...unset } = process.env;
  for (const env of [withPoints(""), unset]) {
    expect(await passTwice("w-1", env)).toEqual({ signal: null, code: 0, stdout: "passed\npassed\n" });
  }
  expect(existsSync(join(dir, "worker.output-confirmed"))).toBe(true);
});
