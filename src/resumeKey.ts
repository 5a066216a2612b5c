/**
 * A session's resume key: 128 random bits the gateway gives a client in its first welcome and
 * asks back in every resume, so that knowing a session's id (printed by the client, logged by
 * the gateway, the name of its results folder) is not enough to take the session over, abort
 * it or read its results. The gateway keeps only the key's hash, in its log, so a revived
 * gateway checks resumes too; the key itself is never logged. A client that predates keys does
 * not ask for one (hello `keyed`), and its session resumes by id alone, as before.
 */
import { createHash, randomBytes } from "node:crypto";
import { secretsEqual } from "./secretsEqual.ts";

/** What a resume key looks like on the wire: base64url, 22 characters for 16 bytes (more accepted). */
export const RESUME_KEY = /^[\w-]{22,64}$/;

/** A fresh key and the hash the gateway keeps of it. */
export function newResumeKey(): { key: string; hash: string } {
  const key = randomBytes(16).toString("base64url");
  return { key, hash: hashOf(key) };
}

/** True when `given` is the key whose hash is `hash`; a session without a hash (no key asked for) takes any. */
export function resumeKeyMatches(hash: string | undefined, given: string | undefined): boolean {
  if (hash === undefined) return true;
  return given !== undefined && secretsEqual(hash, hashOf(given));
}

function hashOf(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}
