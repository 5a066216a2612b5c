import { describe, expect, test } from "bun:test";
import { CoffeeError } from "./errors.ts";
import { checkProtocolVersion, checkToken } from "./handshake.ts";
import { PROTOCOL_VERSION } from "./protocol.ts";

/** The error code `fn` throws, or null when it does not throw. */
function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof CoffeeError) return err.code;
    throw err;
  }
}

describe("checkProtocolVersion", () => {
  test("accepts this gateway's version only", () => {
    expect(codeOf(() => checkProtocolVersion(PROTOCOL_VERSION))).toBeNull();
    expect(codeOf(() => checkProtocolVersion(PROTOCOL_VERSION - 1))).toBe("PROTOCOL_VIOLATION");
    expect(codeOf(() => checkProtocolVersion(PROTOCOL_VERSION + 1))).toBe("PROTOCOL_VIOLATION");
  });
});

describe("checkToken", () => {
  test("without a configured token anything passes, a token or none", () => {
    expect(codeOf(() => checkToken(null, undefined))).toBeNull();
    expect(codeOf(() => checkToken(null, "whatever"))).toBeNull();
  });

  test("with a token, only that exact token passes", () => {
    expect(codeOf(() => checkToken("s3cret", "s3cret"))).toBeNull();
    expect(codeOf(() => checkToken("s3cret", undefined))).toBe("AUTH_FAILED");
    expect(codeOf(() => checkToken("s3cret", ""))).toBe("AUTH_FAILED");
    expect(codeOf(() => checkToken("s3cret", "s3cre"))).toBe("AUTH_FAILED");
    expect(codeOf(() => checkToken("s3cret", "s3cret "))).toBe("AUTH_FAILED");
  });

  test("an empty configured token still needs the client to send one", () => {
    expect(codeOf(() => checkToken("", ""))).toBeNull();
    expect(codeOf(() => checkToken("", undefined))).toBe("AUTH_FAILED");
  });
});
