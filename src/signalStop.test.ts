import { expect, jest, test } from "bun:test";
import { WalError } from "./errors.ts";
import { signalExitCode, signalStopper } from "./signalStop.ts";

/** A stopper over `shutdown` whose exits and log lines are recorded. */
function recorded(shutdown: () => Promise<void>, graceMs = 1_000): { stop: ReturnType<typeof signalStopper>; exits: number[]; lines: string[]; shutdowns: () => number } {
  const exits: number[] = [];
  const lines: string[] = [];
  let calls = 0;
  const log = { info: (m: string) => void lines.push(`info ${m}`), warn: (m: string) => void lines.push(`warn ${m}`), error: (m: string) => void lines.push(`error ${m}`) };
  const stop = signalStopper({ shutdown: () => (calls++, shutdown()), log, exit: (code) => void exits.push(code), graceMs });
  return { stop, exits, lines, shutdowns: () => calls };
}

const never = (): Promise<void> => new Promise<void>(() => {});

test("the first signal shuts down once; a second SIGINT (Ctrl-C again) exits at once with its status", () => {
  jest.useFakeTimers();
  try {
    const r = recorded(never);
    r.stop("SIGINT");
    expect(r.shutdowns()).toBe(1);
    expect(r.exits).toEqual([]);
    r.stop("SIGINT");
    expect(r.shutdowns()).toBe(1);
    expect(r.exits).toEqual([130]);
    expect(r.lines.at(-1)).toStartWith("warn SIGINT again: exiting without waiting for the shutdown");
  } finally {
    jest.useRealTimers();
  }
});

test("a SIGTERM while stopping (coffee up's, after the Ctrl-C its whole process group got) leaves the clean stop alone", async () => {
  jest.useFakeTimers();
  try {
    const { promise, resolve } = Promise.withResolvers<void>();
    const r = recorded(() => promise);
    r.stop("SIGINT");
    r.stop("SIGTERM");
    expect(r.exits).toEqual([]);
    resolve();
    await promise;
    await Promise.resolve();
    // The stop finished; the process exits by itself (no exit here), and the grace changes nothing...
    expect(r.exits).toEqual([]);
    // ...unless what follows the shutdown (closing the broker connection) hangs: then 0, with why.
    jest.advanceTimersByTime(1_000);
    expect(r.exits).toEqual([0]);
    expect(r.lines.at(-1)).toStartWith("warn the shutdown finished (its log committed), but what follows it");
  } finally {
    jest.useRealTimers();
  }
});

test("a shutdown that never ends (a publish waiting for a broker that went away) is cut at the grace", () => {
  jest.useFakeTimers();
  try {
    const r = recorded(never, 15_000);
    r.stop("SIGTERM");
    jest.advanceTimersByTime(14_999);
    expect(r.exits).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(r.exits).toEqual([signalExitCode("SIGTERM")]);
    expect(r.exits).toEqual([143]);
    expect(r.lines.at(-1)).toContain("did not finish within 15 s");
  } finally {
    jest.useRealTimers();
  }
});

test("a shutdown whose final commit fails exits 70, with the failure in the log, not as an unhandled rejection", async () => {
  const r = recorded(() => Promise.reject(new WalError("WAL_FSYNC_FAILED", "fsync of the log failed")));
  r.stop("SIGTERM");
  await Bun.sleep(0);
  expect(r.exits).toEqual([70]);
  expect(r.lines.at(-1)).toBe("error shutdown failed: WAL_FSYNC_FAILED: fsync of the log failed");
});

test("a shutdown that fails otherwise exits 1", async () => {
  const r = recorded(() => Promise.reject(new Error("boom")));
  r.stop("SIGINT");
  await Bun.sleep(0);
  expect(r.exits).toEqual([1]);
});

test("after a SIGTERM (coffee up stopping its children), a Ctrl-C changes nothing; after a finished stop, Ctrl-C again exits 0", async () => {
  jest.useFakeTimers();
  try {
    const termed = recorded(never);
    termed.stop("SIGTERM");
    termed.stop("SIGINT");
    expect(termed.exits).toEqual([]);
    const done = recorded(() => Promise.resolve());
    done.stop("SIGINT");
    await Promise.resolve();
    await Promise.resolve();
    done.stop("SIGINT");
    expect(done.exits).toEqual([0]);
  } finally {
    jest.useRealTimers();
  }
});
