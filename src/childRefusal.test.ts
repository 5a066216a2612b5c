import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childLastError, childRefusal, lastRefusalLine } from "./childRefusal.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-refusal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the last refusal line of a log is found, with its code; other coded lines are not refusals", () => {
  const log = [
    "2026-12-06T22:00:00.000Z agg-q1 INFO health on udp/4000",
    "coffee: QUEUE_MISMATCH: queue ns.q1 exists with other settings than --queue-type quorum asks for",
    "2026-12-06T22:00:01.000Z agg-q1 INFO health on udp/4000",
    "coffee: CONFIG_INVALID: COFFEE_CONFIRM_TIMEOUT_MS must be >= 1000, got 500",
    "coffee: BROKER_UNAVAILABLE: no broker",
    "",
  ].join("\n");
  expect(lastRefusalLine(log)).toEqual({ code: "CONFIG_INVALID", message: "COFFEE_CONFIRM_TIMEOUT_MS must be >= 1000, got 500" });
  expect(lastRefusalLine("coffee: BROKER_UNAVAILABLE: x\nplain text\n")).toBeNull();
});

test("childRefusal names the child and its log; a log that is missing or silent still gives CONFIG_INVALID", () => {
  const file = join(dir, "agg-q1.log");
  // Only the end of a long log is read.
  writeFileSync(file, `${"x".repeat(200_000)}\ncoffee: QUEUE_MISMATCH: queue ns.q1 differs\n`);
  const err = childRefusal("agg-q1", file);
  expect(err.code).toBe("QUEUE_MISMATCH");
  expect(err.message).toBe(`agg-q1 cannot start: queue ns.q1 differs (its log: ${file})`);
  const missing = childRefusal("gateway", join(dir, "none.log"));
  expect(missing.code).toBe("CONFIG_INVALID");
  expect(missing.message).toContain("gateway refused its configuration (exit 2)");
});

test("only what the child's current run wrote counts: an earlier run's refusal in the same log is not its reason", () => {
  const file = join(dir, "gateway.log");
  const earlier = "coffee: QUEUE_MISMATCH: from an earlier run\n";
  writeFileSync(file, `${earlier}2026-12-06T22:00:00.000Z gateway INFO starting\n`);
  const err = childRefusal("gateway", file, earlier.length);
  expect(err.code).toBe("CONFIG_INVALID");
  expect(err.message).toContain("refused its configuration (exit 2)");
  expect(childRefusal("gateway", file, 0).code).toBe("QUEUE_MISMATCH");
});

test("childLastError: the last coffee: or ERROR line of this run, cut short; null for a run that logged none", () => {
  const file = join(dir, "agg-q2.log");
  const earlier = "coffee: WAL_CORRUPT: an earlier run's\n";
  const thisRun = [
    "2026-12-07T00:00:00.000Z agg-q2 INFO health on udp/4000",
    "2026-12-07T00:00:00.100Z agg-q2 ERROR write-ahead log or spilled run failure, exiting: WAL_IO_FAILED: cannot open /s/agg-q2/LOCK: EEXIST",
    "2026-12-07T00:00:00.200Z agg-q2 WARN a warning after it",
    "",
  ].join("\n");
  writeFileSync(file, earlier + thisRun);
  expect(childLastError(file, earlier.length)).toBe("write-ahead log or spilled run failure, exiting: WAL_IO_FAILED: cannot open /s/agg-q2/LOCK: EEXIST");
  writeFileSync(file, `${earlier}coffee: ${"y".repeat(1000)}\n`);
  expect(childLastError(file, earlier.length)).toBe(`${"y".repeat(300)}...`);
  writeFileSync(file, `${earlier}2026-12-07T00:00:00.000Z agg-q2 INFO nothing wrong\n`);
  expect(childLastError(file, earlier.length)).toBeNull();
  expect(childLastError(join(dir, "none.log"))).toBeNull();
});

test("a log rotated while the child ran (shorter than where its run began) is all this run's", () => {
  const file = join(dir, "agg-q3.log");
  const afterRotation = "2026-12-07T00:00:00.100Z agg-q3 ERROR write-ahead log or spilled run failure, exiting: WAL_IO_FAILED: disk full\n";
  writeFileSync(file, afterRotation);
  expect(childLastError(file, 50_000)).toBe("write-ahead log or spilled run failure, exiting: WAL_IO_FAILED: disk full");
  writeFileSync(file, "coffee: QUEUE_MISMATCH: after the rotation\n");
  expect(childRefusal("agg-q3", file, 50_000).code).toBe("QUEUE_MISMATCH");
});
