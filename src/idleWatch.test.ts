import { expect, test } from "bun:test";
import { IdleWatch, type IdleTimers } from "./idleWatch.ts";

/** Timers on a hand-driven clock. */
class FakeTimers implements IdleTimers {
  t = 0;
  private next = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  set(fn: () => void, ms: number): unknown {
    this.due.set(++this.next, { at: this.t + ms, fn });
    return this.next;
  }
  clear(handle: unknown): void {
    this.due.delete(handle as number);
  }
  get pending(): number {
    return this.due.size;
  }
  /** Move the clock to `to` and run nothing: the process was frozen meanwhile. */
  freeze(to: number): void {
    this.t = to;
  }
  /** Move the clock to `to`, running the timers due on the way, in order. */
  advance(to: number): void {
    for (;;) {
      const first = [...this.due.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!first || first[1].at > to) break;
      this.due.delete(first[0]);
      // A timer runs at its time, or at once if the clock was moved past it (a frozen process).
      this.t = Math.max(this.t, first[1].at);
      first[1].fn();
    }
    this.t = to;
  }
}

test("silence for the limit is reported, and counted again from there", () => {
  const timers = new FakeTimers();
  const silences: number[] = [];
  const idle = new IdleWatch(1000, () => void silences.push(timers.t), timers);
  idle.arm();
  timers.advance(999);
  expect(silences).toEqual([]);
  timers.advance(2500);
  expect(silences).toEqual([1000, 2000]);
});

test("bytes heard put the silence off; a new arm counts a new limit from now", () => {
  const timers = new FakeTimers();
  const silences: number[] = [];
  const idle = new IdleWatch(1000, () => void silences.push(timers.t), timers);
  idle.arm();
  timers.advance(600);
  idle.heard();
  timers.advance(1500);
  expect(silences).toEqual([]);
  timers.advance(1600);
  expect(silences).toEqual([1600]);
  // A welcome naming slow heartbeats: three of them from now.
  timers.advance(1700);
  idle.limitMs = 3000;
  idle.arm();
  timers.advance(4699);
  expect(silences).toEqual([1600]);
  timers.advance(4700);
  expect(silences).toEqual([1600, 4700]);
});

test("a stopped watch keeps no timer, armed again or not", () => {
  const timers = new FakeTimers();
  const silences: number[] = [];
  const idle = new IdleWatch(1000, () => void silences.push(timers.t), timers);
  idle.arm();
  idle.stop();
  expect(timers.pending).toBe(0);
  idle.arm();
  expect(timers.pending).toBe(0);
  timers.advance(10_000);
  expect(silences).toEqual([]);
});

test("a check run long after it was due (this process frozen) looks again before blaming the gateway", () => {
  const timers = new FakeTimers();
  const silences: number[] = [];
  const idle = new IdleWatch(1000, () => void silences.push(timers.t), timers);
  idle.arm();
  // SIGSTOPped for 66 s: the gateway's heartbeats wait unread in the socket, behind the timer.
  timers.freeze(66_000);
  timers.advance(66_000);
  expect(silences).toEqual([]);
  idle.heard();
  timers.advance(66_900);
  expect(silences).toEqual([]);
  timers.advance(67_000);
  expect(silences).toEqual([67_000]);
  // Frozen again, and nothing was waiting: silence once the second look finds nothing either.
  timers.freeze(90_000);
  timers.advance(90_000);
  expect(silences).toEqual([67_000]);
  timers.advance(90_250);
  expect(silences).toEqual([67_000, 90_250]);
});
