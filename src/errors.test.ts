import { expect, test } from "bun:test";
import { CoffeeError, codedMessage, WalError } from "./errors.ts";

test("codedMessage leads with the stable code when there is one", () => {
  expect(codedMessage(new WalError("WAL_IO_FAILED", "writing sorted run x: ENOSPC"))).toBe("WAL_IO_FAILED: writing sorted run x: ENOSPC");
  expect(codedMessage(new CoffeeError("SESSION_LIMIT", "server full"))).toBe("SESSION_LIMIT: server full");
  expect(codedMessage(new Error("plain"))).toBe("plain");
  expect(codedMessage("thrown text")).toBe("thrown text");
});
