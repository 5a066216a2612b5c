import { expect, test } from "bun:test";
import { openElectionMessage, sealElectionMessage } from "./electionSeal.ts";
import type { ElectionMessage } from "./election.ts";

const heartbeat: ElectionMessage = { type: "heartbeat", from: 3, term: 17 };

test("with a key, only messages signed with it are taken: a forged, altered or unsigned one is dropped", () => {
  const sealed = JSON.parse(JSON.stringify(sealElectionMessage("k3y", heartbeat))) as unknown;
  expect(openElectionMessage("k3y", sealed)).toEqual(heartbeat);
  // Its term raised, or its sender changed, the signature no longer holds.
  expect(openElectionMessage("k3y", { ...(sealed as object), term: 9_007_199_254_740_991 })).toBeNull();
  expect(openElectionMessage("k3y", { ...(sealed as object), from: 2 })).toBeNull();
  expect(openElectionMessage("k3y", { ...(sealed as object), type: "coordinator" })).toBeNull();
  expect(openElectionMessage("other", sealed)).toBeNull();
  expect(openElectionMessage("k3y", heartbeat)).toBeNull();
  expect(openElectionMessage("k3y", { ...heartbeat, mac: 5 })).toBeNull();
  expect(openElectionMessage("k3y", { ...heartbeat, mac: "" })).toBeNull();
});

test("without a key, messages go unsigned and are taken as they come (not-messages still dropped)", () => {
  expect(sealElectionMessage(null, heartbeat)).toEqual(heartbeat);
  expect(openElectionMessage(null, { ...heartbeat, mac: "anything" })).toEqual(heartbeat);
  expect(openElectionMessage(null, { type: "heartbeat", from: 3, term: -1 })).toBeNull();
  expect(openElectionMessage(null, "heartbeat")).toBeNull();
});
