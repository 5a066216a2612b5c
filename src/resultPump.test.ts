import { expect, test } from "bun:test";
import type { StoredChunk } from "./gatewayStore.ts";
import { ResultPump, type PumpEvent, type ResultSink } from "./resultPump.ts";

/** A sink whose room the test opens and closes, recording what was written. */
class FakeSink implements ResultSink {
  live = true;
  hasRoom = true;
  /** Bytes the client took (progress); what was written, as "query#chunk:text". */
  written = 0;
  sent: string[] = [];
  private waiters: (() => void)[] = [];
  ready(): Promise<void> {
    return this.hasRoom || !this.live ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
  write(chunk: StoredChunk, csv: string): void {
    this.sent.push(`${chunk.query}#${chunk.chunk}:${csv}`);
  }
  open(): void {
    this.hasRoom = true;
    for (const w of this.waiters.splice(0)) w();
  }
  gone(): void {
    this.live = false;
    for (const w of this.waiters.splice(0)) w();
  }
}

const chunk = (n: number): StoredChunk => ({ query: "q1", chunk: n, last: false, ref: { offset: n, length: 1 } });

/** A pump over texts "t<n>" that counts spool reads, and the next event it reports. */
function setup(stallMs = 60_000) {
  const reads: number[] = [];
  const events: PumpEvent[] = [];
  let notify: (e: PumpEvent) => void = () => {};
  const pump = new ResultPump((c) => (reads.push(c.chunk), `t${c.chunk}`), stallMs, (_, e) => {
    events.push(e);
    notify(e);
  });
  const nextEvent = (): Promise<PumpEvent> => new Promise((r) => (notify = r));
  return { pump, reads, events, nextEvent };
}

test("a chunk offered while nothing waits and the socket has room is written at once, its text not read back", () => {
  const { pump, reads } = setup();
  const sink = new FakeSink();
  pump.offer(sink, chunk(0), "live");
  expect(sink.sent).toEqual(["q1#0:live"]);
  expect(reads).toEqual([]);
  expect(pump.busy).toBe(false);
});

test("with the socket full, chunks wait (nothing in memory but their refs) and go out in order once it has room", async () => {
  const { pump, reads, nextEvent } = setup();
  const sink = new FakeSink();
  sink.hasRoom = false;
  pump.offer(sink, chunk(0), "live0");
  pump.offer(sink, chunk(1), "live1");
  expect(sink.sent).toEqual([]);
  expect(pump.busy).toBe(true);
  expect(pump.waiting).toBe(2);
  // Room again: a later chunk must not overtake the waiting ones, even with room.
  const drained = nextEvent();
  sink.open();
  pump.offer(sink, chunk(2), "live2");
  expect(await drained).toEqual({ type: "drained", resent: 0 });
  expect(sink.sent).toEqual(["q1#0:t0", "q1#1:t1", "q1#2:t2"]);
  expect(reads).toEqual([0, 1, 2]);
  expect(pump.busy).toBe(false);
});

test("a resume sends every stored chunk again before any arriving meanwhile, and says how many it resent", async () => {
  const { pump, nextEvent } = setup();
  const old = new FakeSink();
  old.hasRoom = false;
  pump.offer(old, chunk(0), "x");
  old.gone();
  const sink = new FakeSink();
  const drained = nextEvent();
  pump.resend(sink, [chunk(0), chunk(1)]);
  pump.offer(sink, chunk(2), "live2");
  expect(await drained).toEqual({ type: "drained", resent: 2 });
  expect(sink.sent).toEqual(["q1#0:t0", "q1#1:t1", "q1#2:t2"]);
  expect(old.sent).toEqual([]);
});

test("a sink that takes nothing for stallMs is reported stalled, nothing lost from the backlog", async () => {
  const { pump, nextEvent } = setup(20);
  const sink = new FakeSink();
  sink.hasRoom = false;
  const stalled = nextEvent();
  pump.offer(sink, chunk(0), "x");
  pump.offer(sink, chunk(1), "y");
  expect(await stalled).toEqual({ type: "stalled", waiting: 2, stallMs: 20 });
  expect(sink.sent).toEqual([]);
  expect(pump.waiting).toBe(2);
});

test("a chunk the spool cannot give back is reported failed and stays first in the backlog", async () => {
  const events: PumpEvent[] = [];
  const { promise: reported, resolve: failed } = Promise.withResolvers<void>();
  const pump = new ResultPump(() => {
    throw new Error("gone");
  }, 60_000, (_, e) => {
    events.push(e);
    failed();
  });
  const sink = new FakeSink();
  pump.resend(sink, [chunk(0)]);
  await reported;
  expect(events[0]?.type).toBe("failed");
  expect(pump.waiting).toBe(1);
  expect(pump.busy).toBe(true);
});

test("a client that takes its results slowly, but takes some within every stallMs, is not reported stalled", async () => {
  const { pump, events, nextEvent } = setup(40);
  const sink = new FakeSink();
  sink.hasRoom = false;
  const drained = nextEvent();
  pump.offer(sink, chunk(0), "x");
  // A slow reader: a few bytes every 10 ms, for three stall periods, then room.
  let ticks = 0;
  const reader = setInterval(() => {
    sink.written += 100;
    if (++ticks === 12) {
      clearInterval(reader);
      sink.open();
    }
  }, 10);
  expect(await drained).toEqual({ type: "drained", resent: 0 });
  expect(events.map((e) => e.type)).toEqual(["drained"]);
  expect(sink.sent).toEqual(["q1#0:t0"]);
});
