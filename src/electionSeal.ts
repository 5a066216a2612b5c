/**
 * Election messages signed with a key the monitors share (HMAC-SHA256 over type, sender and
 * term), so that a peer without the key can neither forge a term nor lead: without it, one
 * forged message could push every monitor's term where coffee up's control API refuses it and
 * stop all revivals, and a stream of forged heartbeats could keep a leader that does not exist.
 * coffee up's monitors share the key in its control.json; others are given COFFEE_ELECTION_KEY.
 * Without a key, messages go unsigned and are taken unchecked (keep the port off untrusted
 * networks). Not covered: replay. A message captured on the way (root on the machine, or on the
 * network between hosts) and sent again carries a term that was real once, so it cannot raise
 * terms, but a leader's heartbeat replayed on and on holds its followers to it after it died.
 */
import { createHmac } from "node:crypto";
import { toElectionMessage, type ElectionMessage } from "./election.ts";
import { secretsEqual } from "./secretsEqual.ts";

function macOf(key: string, m: ElectionMessage): string {
  // "election" first: coffee up's key also opens its control API, and the two uses must not mix.
  return createHmac("sha256", key).update(`election\n${m.type}\n${m.from}\n${m.term}`).digest("base64url");
}

/** `message` as sent: with its `mac` when there is a key. */
export function sealElectionMessage(key: string | null, message: ElectionMessage): ElectionMessage & { mac?: string } {
  return key === null ? message : { ...message, mac: macOf(key, message) };
}

/** A received wire value as an ElectionMessage, or null: not one, or (with a key) not signed with it. */
export function openElectionMessage(key: string | null, value: unknown): ElectionMessage | null {
  const message = toElectionMessage(value);
  if (message === null || key === null) return message;
  const mac = (value as { mac?: unknown }).mac;
  return typeof mac === "string" && secretsEqual(macOf(key, message), mac) ? message : null;
}
