import { expect, test } from "bun:test";
import { WalError } from "./errors.ts";
import { FatalStop, STORAGE_FAILURE_EXIT } from "./fatal.ts";

test("the first failure is told and halts; later ones are dropped; run() and shutdown() end with the halt", async () => {
  const told: unknown[] = [];
  const halts: unknown[] = [];
  const stop = new FatalStop((err) => void told.push(err), (err) => void halts.push(err));
  const run = stop.orFailure(new Promise<void>(() => {}));
  const shutdown = stop.orHalt(new Promise<void>(() => {}));
  expect(stop.failed).toBe(false);
  const first = new WalError("WAL_IO_FAILED", "writing sorted run failed");
  stop.fail(first);
  stop.fail(new WalError("WAL_IO_FAILED", "the log again"));
  expect(stop.failed).toBe(true);
  expect(told).toEqual([first]);
  expect(halts).toEqual([first]);
  await expect(run).rejects.toBe(first);
  await shutdown;
});

test("a role process's default logs what failed and exits 70", async () => {
  const script = `
    import { exitOnFatal } from ${JSON.stringify(`${import.meta.dir}/fatal.ts`)};
    import { WalError } from ${JSON.stringify(`${import.meta.dir}/errors.ts`)};
    exitOnFatal({ info() {}, warn() {}, error: (m) => console.error(m) }, "write-ahead log or result spool")(new WalError("WAL_FSYNC_FAILED", "fsync failed"));
    console.error("still running");
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "pipe" });
  const stderr = await new Response(proc.stderr).text();
  expect(await proc.exited).toBe(STORAGE_FAILURE_EXIT);
  expect(STORAGE_FAILURE_EXIT).toBe(70);
  expect(stderr.trim()).toBe("write-ahead log or result spool failure, exiting: WAL_FSYNC_FAILED: fsync failed");
});

test("onFatal is told before the halt, and a throwing onFatal still halts the role and ends run()", async () => {
  const order: string[] = [];
  const failure = new WalError("WAL_IO_FAILED", "spool write failed");
  const stop = new FatalStop(() => {
    order.push("told");
    throw new Error("onFatal broke");
  }, () => void order.push("halted"));
  const run = stop.orFailure(new Promise<void>(() => {}));
  expect(() => stop.fail(failure)).toThrow("onFatal broke");
  expect(order).toEqual(["told", "halted"]);
  await expect(run).rejects.toBe(failure);
});
