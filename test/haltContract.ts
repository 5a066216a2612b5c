/**
 * What a role owes after a storage failure in-process (src/fatal.ts), the same for the gateway
 * and the aggregator: its run() rejects with the failure, onFatal was told that failure and
 * nothing else, and what it could not store stays unacked, a turn of the event loop later too.
 */
import { expect } from "bun:test";

/** Assert the halt: `running` rejects with WAL_IO_FAILED whose text contains `says`; resolves with the failure. */
export async function expectHalted(running: Promise<void>, told: readonly unknown[], acked: readonly string[], says: string): Promise<unknown> {
  const failure = await running.then(() => null, (err: unknown) => err);
  expect(failure).toMatchObject({ code: "WAL_IO_FAILED" });
  expect(String(failure)).toContain(says);
  expect(told).toEqual([failure]);
  await new Promise((r) => setImmediate(r));
  expect(acked).toEqual([]);
  return failure;
}
