import { expect, test } from "bun:test";
import { CoffeeError, codedMessage, ConfigError, exitCodeOf, hasCode, STORAGE_FAILURE_EXIT, WalError } from "./errors.ts";

test("codedMessage leads with the stable code when there is one", () => {
  expect(codedMessage(new WalError("WAL_IO_FAILED", "writing sorted run x: ENOSPC"))).toBe("WAL_IO_FAILED: writing sorted run x: ENOSPC");
  expect(codedMessage(new CoffeeError("SESSION_LIMIT", "server full"))).toBe("SESSION_LIMIT: server full");
  expect(codedMessage(new Error("plain"))).toBe("plain");
  expect(codedMessage("thrown text")).toBe("thrown text");
});

test("hasCode: a CoffeeError (or subclass) of that code only", () => {
  expect(hasCode(new CoffeeError("QUEUE_IN_USE", "held"), "QUEUE_IN_USE")).toBe(true);
  expect(hasCode(new ConfigError("bad"), "CONFIG_INVALID")).toBe(true);
  expect(hasCode(new CoffeeError("QUEUE_IN_USE", "held"), "BROKER_UNAVAILABLE")).toBe(false);
  expect(hasCode(Object.assign(new Error("look-alike"), { code: "QUEUE_IN_USE" }), "QUEUE_IN_USE")).toBe(false);
  expect(hasCode("QUEUE_IN_USE", "QUEUE_IN_USE")).toBe(false);
});

test("exitCodeOf: 2 for a refusal, 70 for a failed write of durable state, else 1", () => {
  expect(exitCodeOf(new ConfigError("bad"))).toBe(2);
  expect(exitCodeOf(new CoffeeError("QUEUE_IN_USE", "held"))).toBe(2);
  // A start-time compaction that cannot write exits as a failure while running does.
  expect(exitCodeOf(new WalError("WAL_IO_FAILED", "writing the snapshot: ENOSPC"))).toBe(STORAGE_FAILURE_EXIT);
  expect(exitCodeOf(new WalError("WAL_FSYNC_FAILED", "fsync: EIO"))).toBe(70);
  expect(exitCodeOf(new WalError("WAL_CORRUPT", "bad record"))).toBe(1);
  expect(exitCodeOf(new CoffeeError("BROKER_UNAVAILABLE", "down"))).toBe(1);
  expect(exitCodeOf(new Error("plain"))).toBe(1);
});
