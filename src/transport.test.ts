import { expect, test } from "bun:test";
import { CoffeeError } from "./errors.ts";
import { brokerMessageLimit, checkMessageSize, MAX_MESSAGE_BYTES } from "./transport.ts";

test("the limit a broker names when it closes a channel over a large message is read from amqplib's error text", () => {
  expect(brokerMessageLimit('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 8192 is larger than configured max size 4096"')).toBe(4096);
  expect(brokerMessageLimit('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'x\' in vhost \'/\'"')).toBeNull();
  expect(brokerMessageLimit("message size 8192 is larger than max size 4096")).toBeNull();
});

test("a message over the limit is refused as LIMIT_EXCEEDED, naming the limit; a lower limit suggests raising the broker's", () => {
  expect(() => checkMessageSize("k", new Uint8Array(MAX_MESSAGE_BYTES))).not.toThrow();
  const ours = (() => { try { checkMessageSize("k", new Uint8Array(MAX_MESSAGE_BYTES + 1)); } catch (e) { return e; } })();
  expect(ours).toBeInstanceOf(CoffeeError);
  expect((ours as CoffeeError).code).toBe("LIMIT_EXCEEDED");
  expect((ours as Error).message).not.toContain("max_message_size");
  const theirs = (() => { try { checkMessageSize("k", new Uint8Array(5000), 4096); } catch (e) { return e; } })();
  expect((theirs as CoffeeError).code).toBe("LIMIT_EXCEEDED");
  expect((theirs as Error).message).toContain("exceeds 4096 bytes");
  expect((theirs as Error).message).toContain("raise the broker's max_message_size");
});
