import { describe, expect, test } from "bun:test";
import { BrokerHold } from "./brokerHold.ts";

/** A probe answering from a script, and a log that keeps its lines. */
function setup(answers: boolean[]) {
  const lines: string[] = [];
  const probe = { tick: () => answers.shift() ?? false };
  const log = { info: (m: string) => void lines.push(`INFO ${m}`), warn: (m: string) => void lines.push(`WARN ${m}`) };
  return { lines, hold: new BrokerHold(probe, 500, log, 60_000) };
}

describe("BrokerHold", () => {
  test("says a hold once when it starts, again each reminder interval, and once when it ends", () => {
    const { lines, hold } = setup([false, true, true, true, true, false, false]);
    expect(hold.tick(0)).toBe(false);
    expect(hold.held).toBe(false);
    expect(hold.tick(1_000)).toBe(true);
    expect(hold.held).toBe(true);
    expect(hold.tick(30_000)).toBe(true);
    expect(hold.tick(61_000)).toBe(true);
    expect(hold.tick(90_000)).toBe(true);
    expect(hold.tick(93_500)).toBe(false);
    expect(hold.held).toBe(false);
    expect(hold.tick(94_000)).toBe(false);
    expect(lines).toEqual([
      "WARN the broker confirmed no publish for 500 ms (a resource alarm, quorum queues without their majority, or the broker unreachable): stall deadlines (--result-timeout-s) wait until it does",
      "WARN the broker has confirmed no publish for 60 s: sessions awaiting results wait (see the broker's alarms, its cluster's nodes and this gateway's connection to it)",
      "INFO the broker takes publishes again after 92.5 s: stall deadlines run afresh",
    ]);
  });

  test("a new hold after one ended is said again, timed from its own start", () => {
    const { lines, hold } = setup([true, false, true, false]);
    hold.tick(0);
    hold.tick(2_000);
    hold.tick(10_000);
    hold.tick(10_700);
    expect(lines.map((l) => l.split(" ").slice(0, 4).join(" "))).toEqual([
      "WARN the broker confirmed",
      "INFO the broker takes",
      "WARN the broker confirmed",
      "INFO the broker takes",
    ]);
    expect(lines[3]).toContain("after 0.7 s");
  });
});
