import { expect, test } from "bun:test";
import { BacklogGate, BLIND_HOLD_MS } from "./backlogGate.ts";

const WATCHED = new Set(["filter-year", "agg-q1"]);

test("a poll past the bound holds; one at half of it or under releases; each said once", () => {
  const gate = new BacklogGate(10, WATCHED);
  expect(gate.polled([{ queue: "filter-year", messages: 10, consumers: 1 }])).toBeNull();
  expect(gate.polled([{ queue: "filter-year", messages: 11, consumers: 1 }])).toBe("hold");
  expect(gate.held).toBe(true);
  expect(gate.polled([{ queue: "filter-year", messages: 30, consumers: 1 }])).toBeNull();
  expect(gate.polled([{ queue: "filter-year", messages: 6, consumers: 1 }])).toBeNull();
  expect(gate.polled([{ queue: "filter-year", messages: 5, consumers: 1 }])).toBe("release");
  expect(gate.held).toBe(false);
});

test("the deepest watched queue decides; the results queue and unconsumed queues do not count", () => {
  const gate = new BacklogGate(10, WATCHED);
  expect(gate.polled([
    { queue: "results", messages: 500, consumers: 1 },
    { queue: "filter-time", messages: 500, consumers: 1 },
    { queue: "agg-q1", messages: 500, consumers: 0 },
    { queue: "filter-year", messages: 3, consumers: 2 },
  ])).toBeNull();
  expect(gate.deepest).toEqual({ queue: "filter-year", messages: 3, consumers: 2 });
  expect(gate.polled([{ queue: "filter-year", messages: 3, consumers: 1 }, { queue: "agg-q1", messages: 12, consumers: 1 }])).toBe("hold");
  expect(gate.deepest?.queue).toBe("agg-q1");
});

test("publishes are credit: the bound minus the last polled depth, renewed by a poll begun after their confirms", () => {
  const gate = new BacklogGate(10, WATCHED);
  for (let i = 0; i < 10; i++) expect(gate.publish()).toBeNull();
  expect(gate.publish()).toBe("hold");
  expect(gate.publish()).toBeNull();
  for (let i = 0; i < 12; i++) gate.settled();
  gate.pollStarting();
  expect(gate.polled([{ queue: "filter-year", messages: 4, consumers: 1 }])).toBe("release");
  for (let i = 0; i < 6; i++) expect(gate.publish()).toBeNull();
  expect(gate.publish()).toBe("hold");
});

test("a publish counts until a poll that began after its confirm: unconfirmed ones may not be in the depths", () => {
  const gate = new BacklogGate(10, WATCHED);
  for (let i = 0; i < 5; i++) gate.publish();
  gate.settled();
  gate.pollStarting();
  // Confirmed during the poll: maybe not in its depth either.
  gate.settled();
  // The poll saw the first publish (depth 1); four are still pending.
  expect(gate.polled([{ queue: "filter-year", messages: 1, consumers: 1 }])).toBeNull();
  for (let i = 0; i < 5; i++) expect(gate.publish()).toBeNull();
  expect(gate.publish()).toBe("hold");
  // The next poll, begun after the second confirm, takes that one off: 1 + 9 pending, not down to half.
  gate.pollStarting();
  expect(gate.polled([{ queue: "filter-year", messages: 1, consumers: 1 }])).toBeNull();
  expect(gate.held).toBe(true);
  for (let i = 0; i < 9; i++) gate.settled();
  gate.pollStarting();
  expect(gate.polled([{ queue: "filter-year", messages: 5, consumers: 1 }])).toBe("release");
});

test("a hold only failing polls could end is let go after BLIND_HOLD_MS without an answer, and says so once", () => {
  let now = 0;
  const gate = new BacklogGate(10, WATCHED, () => now);
  gate.polled([{ queue: "filter-year", messages: 20, consumers: 1 }]);
  now = BLIND_HOLD_MS - 1;
  expect(gate.polled(null)).toBeNull();
  expect(gate.held).toBe(true);
  now = BLIND_HOLD_MS;
  expect(gate.polled(null)).toBe("release");
  expect(gate.takeBlindRelease()).toBe(true);
  expect(gate.takeBlindRelease()).toBe(false);
  // Not held: failing polls change nothing, however long.
  now += 10 * BLIND_HOLD_MS;
  expect(gate.polled(null)).toBeNull();
  // Held again in the same run of failing polls: let go at the next one, not reported again.
  for (let i = 0; i < 11; i++) gate.publish();
  expect(gate.held).toBe(true);
  expect(gate.polled(null)).toBe("release");
  expect(gate.takeBlindRelease()).toBe(false);
  // An answered poll starts a new run: its blind release is reported.
  gate.polled([{ queue: "filter-year", messages: 20, consumers: 1 }]);
  now += BLIND_HOLD_MS;
  expect(gate.polled(null)).toBe("release");
  expect(gate.takeBlindRelease()).toBe(true);
});

test("an unanswered poll changes nothing, held or not, within BLIND_HOLD_MS", () => {
  const gate = new BacklogGate(10, WATCHED, () => 0);
  expect(gate.polled(null)).toBeNull();
  expect(gate.held).toBe(false);
  gate.polled([{ queue: "agg-q1", messages: 20, consumers: 1 }]);
  expect(gate.polled(null)).toBeNull();
  expect(gate.held).toBe(true);
});

test("a bound of 0 never holds", () => {
  const gate = new BacklogGate(0, WATCHED);
  for (let i = 0; i < 100; i++) expect(gate.publish()).toBeNull();
  expect(gate.polled([{ queue: "filter-year", messages: 1e6, consumers: 1 }])).toBeNull();
  expect(gate.held).toBe(false);
});

test("confirms are credited once: later polls do not count the same confirms again", () => {
  const gate = new BacklogGate(10, WATCHED);
  for (let i = 0; i < 5; i++) gate.publish();
  for (let i = 0; i < 5; i++) gate.settled();
  for (let poll = 0; poll < 3; poll++) {
    gate.pollStarting();
    expect(gate.polled([{ queue: "filter-year", messages: 0, consumers: 1 }])).toBeNull();
  }
  // Nothing is in flight: the full bound of 10, no more.
  for (let i = 0; i < 10; i++) expect(gate.publish()).toBeNull();
  expect(gate.publish()).toBe("hold");
});

test("the blind-release clock runs from the last answered poll, not from the gate's creation", () => {
  let now = 0;
  const gate = new BacklogGate(10, WATCHED, () => now);
  now = 3 * BLIND_HOLD_MS;
  expect(gate.polled([{ queue: "filter-year", messages: 50, consumers: 1 }])).toBe("hold");
  now += 1000;
  expect(gate.polled(null)).toBeNull();
  expect(gate.held).toBe(true);
  now += BLIND_HOLD_MS;
  expect(gate.polled(null)).toBe("release");
});
