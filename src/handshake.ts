/**
 * What a client's hello or resume must carry before the gateway gives it a session: the protocol
 * version this gateway speaks, and the shared secret when one is configured.
 */
import { CoffeeError, ProtocolError } from "./errors.ts";
import { PROTOCOL_VERSION } from "./protocol.ts";
import { secretsEqual } from "./secretsEqual.ts";

/** Throws PROTOCOL_VIOLATION unless the client speaks this gateway's protocol version. */
export function checkProtocolVersion(v: number): void {
  if (v !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${v} is not supported (this gateway speaks ${PROTOCOL_VERSION})`);
}

/**
 * Throws AUTH_FAILED unless `given` is the `expected` token (null: none required). Compares
 * hashes in constant time, so neither the token's bytes nor its length leak through timing.
 */
export function checkToken(expected: string | null, given: string | undefined): void {
  if (expected === null) return;
  if (!secretsEqual(expected, given)) throw new CoffeeError("AUTH_FAILED", "missing or wrong token (the gateway requires COFFEE_TOKEN or --token-file)");
}
