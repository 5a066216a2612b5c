/** Comparing a secret someone presents with the one expected, without leaking either through timing. */
import { createHash, timingSafeEqual } from "node:crypto";

/** True when `given` is `expected`; compares their hashes in constant time, so neither bytes nor length leak. */
export function secretsEqual(expected: string, given: string | null | undefined): boolean {
  const want = createHash("sha256").update(expected).digest();
  const got = createHash("sha256").update(given ?? "").digest();
  return given !== null && given !== undefined && timingSafeEqual(want, got);
}
