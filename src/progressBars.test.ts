import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEntityFile } from "./csvSource.ts";
import { Progress, type ProgressStreams } from "./progress.ts";
import {
  LogLines, entityEta, entityRate, fitLine, formatCompact, formatCount, formatDuration, redrawFrame, renderBar,
  renderEntityLines, renderFrame, renderQueriesLine, renderSummary, type EntityView, type ProgressView,
} from "./progressBars.ts";

/** An entity view with defaults; times in ms from clock 0. */
function entity(over: Partial<EntityView> = {}): EntityView {
  return { name: "users", totalBytes: 1000, bytesSent: 0, rowsSent: 0, rowsAcked: 0, rejected: 0, phase: "waiting", startedMs: null, doneMs: null, ...over };
}

function view(over: Partial<ProgressView> = {}): ProgressView {
  return {
    session: "0123456789abcdef",
    startedMs: 0,
    entities: [
      entity({ name: "stores", phase: "done", rowsSent: 10, rowsAcked: 10, bytesSent: 500, totalBytes: 500, startedMs: 100, doneMs: 150 }),
      entity({ name: "transaction_items", phase: "sending", rowsSent: 50_000, rowsAcked: 40_000, bytesSent: 250_000, totalBytes: 1_000_000, startedMs: 1000, rejected: 3 }),
      entity({ name: "users" }),
    ],
    queries: [
      { name: "q1", chunks: 3, completeMs: 9000 },
      { name: "q2", chunks: 1, completeMs: null },
      { name: "q3", chunks: 0, completeMs: null },
    ],
    ...over,
  };
}

describe("formatting", () => {
  test("counts use fixed separators", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(45678.6)).toBe("45,679");
    expect(formatCount(-1234)).toBe("-1,234");
  });

  test("compact numbers keep three significant digits and step up instead of printing 1000k", () => {
    expect(formatCompact(999)).toBe("999");
    expect(formatCompact(1234)).toBe("1.2k");
    expect(formatCompact(45678)).toBe("45.7k");
    expect(formatCompact(456_789)).toBe("457k");
    expect(formatCompact(999_960)).toBe("1.0M");
    expect(formatCompact(1_234_567)).toBe("1.2M");
  });

  test("durations", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(42.4)).toBe("42s");
    expect(formatDuration(59.6)).toBe("1m00s");
    expect(formatDuration(185)).toBe("3m05s");
    expect(formatDuration(2 * 3600 + 7 * 60 + 5)).toBe("2h07m");
    expect(formatDuration(200 * 3600)).toBe(">99h");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("?");
    expect(formatDuration(Number.NaN)).toBe("?");
    expect(formatDuration(-1)).toBe("?");
  });
});

describe("renderBar", () => {
  test("always exactly `width` cells", () => {
    for (const width of [1, 2, 7, 20])
      for (const f of [0, 0.01, 0.333, 0.5, 0.999, 1, 1.5, -1, Number.NaN, null])
        expect(Array.from(renderBar(f, width, 12345)).length).toBe(width);
    expect(renderBar(0.5, 0)).toBe("");
  });

  test("fills with whole and eighth blocks", () => {
    expect(renderBar(0, 4)).toBe("░░░░");
    expect(renderBar(1, 4)).toBe("████");
    expect(renderBar(0.5, 4)).toBe("██░░");
    // 0.5625 of 4 cells = 2.25 cells: two full, a quarter block.
    expect(renderBar(0.5625, 4)).toBe("██▎░");
  });

  test("an unknown total bounces a block with the clock", () => {
    expect(renderBar(null, 6, 0)).toBe("███░░░");
    expect(renderBar(null, 6, 120)).toBe("░███░░");
    expect(renderBar(null, 6, 3 * 120)).toBe("░░░███");
    expect(renderBar(null, 6, 4 * 120)).toBe("░░███░");
    expect(renderBar(null, 2, 999)).toBe("██");
  });
});

describe("rates and ETA", () => {
  test("rows/s from acked rows since the entity started; none while too early", () => {
    const e = entity({ phase: "sending", rowsAcked: 20_000, startedMs: 1000 });
    expect(entityRate(e, 1200)).toBeNull();
    expect(entityRate(e, 3000)).toBe(10_000);
    expect(entityRate(entity(), 5000)).toBeNull();
    // A finished entity's rate stops at its end.
    expect(entityRate({ ...e, phase: "done", doneMs: 5000 }, 99_000)).toBe(5000);
  });

  test("ETA from bytes: a quarter sent in 2 s leaves 6 s", () => {
    const e = entity({ phase: "sending", bytesSent: 250, totalBytes: 1000, startedMs: 1000 });
    expect(entityEta(e, 3000)).toBe(6);
    expect(entityEta({ ...e, totalBytes: null }, 3000)).toBeNull();
    expect(entityEta({ ...e, bytesSent: 0 }, 3000)).toBeNull();
    expect(entityEta(e, 1100)).toBeNull();
    expect(entityEta({ ...e, phase: "acking" }, 3000)).toBeNull();
    // More bytes than the stat said (a file that grew): no negative ETA.
    expect(entityEta({ ...e, bytesSent: 2000 }, 3000)).toBe(0);
  });
});

describe("TTY frame", () => {
  test("header, one line per entity, results line, at 120 columns", () => {
    expect(renderFrame(view(), 120, 3000)).toEqual([
      "session 01234567  3.0s  50,010 rows sent  13,797 rows/s  ETA 9s",
      "  stores            ██████████████████████████████ 100%      10 sent      10 acked     200 rows/s  ✓ 0.1s",
      "  transaction_items ███████▌░░░░░░░░░░░░░░░░░░░░░░  25%  50,000 sent  40,000 acked  20,000 rows/s  ETA 6s  3 rejected",
      "  users             ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░   0%  waiting",
      "  results  q1 ✓ 3 chunks 9.0s  q2 1 chunk…  q3 -",
    ]);
  });

  test("bars share one width and counts line up in columns", () => {
    const lines = renderFrame(view(), 100, 3000);
    const barStart = (l: string): number => l.search(/[█░▏▎▍▌▋▊▉]/);
    const barEnd = (l: string): number => l.search(/[█░▏▎▍▌▋▊▉] +\d+%/);
    expect(new Set(lines.slice(1, 4).map(barStart)).size).toBe(1);
    expect(new Set(lines.slice(1, 4).map(barEnd)).size).toBe(1);
    expect(lines[1]!.indexOf(" sent")).toBe(lines[2]!.indexOf(" sent"));
    expect(lines[1]!.indexOf(" rows/s")).toBe(lines[2]!.indexOf(" rows/s"));
  });

  test("no line ever reaches the terminal width, however narrow", () => {
    for (const width of [200, 120, 100, 80, 60, 40, 30, 20, 10, 5, 1]) {
      for (const line of renderFrame(view(), width, 3000)) expect(Array.from(line).length).toBeLessThan(Math.max(2, width));
    }
  });

  test("narrow terminals: compact wording before the bar goes, then the bar goes", () => {
    const entities = view().entities;
    expect(renderEntityLines(entities, 100, 3000)[1]).toContain("50,000 sent  40,000 acked  20,000 rows/s  ETA 6s  3 rejected");
    // 80 columns: the common terminal keeps a bar, with compact counts (acked/sent).
    expect(renderEntityLines(entities, 78, 3000)).toEqual([
      "stores            ████████████████████ 100%        10/10   200/s ✓ 0.1s",
      "transaction_items █████░░░░░░░░░░░░░░░  25%  40.0k/50.0k 20.0k/s ETA 6s 3 rej",
      "users             ░░░░░░░░░░░░░░░░░░░░   0%  waiting",
    ]);
    expect(renderEntityLines(entities, 50, 3000)).toEqual([
      "stores            100%        10/10   200/s ✓ 0.…",
      "transaction_items  25%  40.0k/50.0k 20.0k/s ETA …",
      "users               0%  waiting",
    ]);
  });

  test("the header drops its least important parts whole on narrow terminals", () => {
    expect(renderFrame(view(), 60, 3000)[0]).toBe("session 01234567  3.0s  50,010 rows sent  ETA 9s");
    expect(renderFrame(view(), 40, 3000)[0]).toBe("session 01234567  3.0s  ETA 9s");
  });

  test("an unknown total: no percentage, no ETA, a moving bar", () => {
    const e = entity({ phase: "sending", totalBytes: null, rowsSent: 100, rowsAcked: 100, startedMs: 0 });
    const [line] = renderEntityLines([e], 80, 2000);
    expect(line).toEndWith("   ?  100 sent  100 acked  50 rows/s");
    expect(renderEntityLines([e], 80, 2120)[0]).not.toBe(line);
  });

  test("an entity with no bytes at all (only empty files) is simply done", () => {
    const e = entity({ totalBytes: 0, phase: "done", startedMs: 10, doneMs: 20 });
    expect(renderEntityLines([e], 80, 100)[0]).toEndWith("100%  0 sent  0 acked  - rows/s  ✓ 0.0s");
  });

  test("the header says what the run waits for once all is sent", () => {
    const done = view().entities.map((e) => ({ ...e, phase: "done" as const, doneMs: 5000 }));
    expect(renderFrame(view({ entities: done }), 120, 6000)[0]).toContain("all sent, waiting for results");
    const acking = done.map((e) => ({ ...e, phase: "acking" as const }));
    expect(renderFrame(view({ entities: acking }), 120, 6000)[0]).toContain("all sent, awaiting acks");
    expect(renderFrame(view({ session: null }), 120, 1500)).toEqual(["connecting to the gateway…  1.5s"]);
    expect(renderFrame(view({ entities: done, brokerHeld: true }), 80, 6000)[0]).toBe("session 01234567  6.0s  50,010 rows sent  broker takes no publishes, waiting");
    expect(renderFrame(view({ brokerHeld: true }), 120, 6000)[0]).not.toContain("ETA");
    // Everything is in: nothing waits for the broker any more, whatever the last heartbeat said.
    const complete = view().queries.map((q) => ({ ...q, completeMs: 7000 }));
    expect(renderFrame(view({ entities: done, queries: complete, brokerHeld: true }), 120, 8000)[0]).not.toContain("broker");
  });

  test("while the gateway is lost the header says the session is being resumed, and for how long yet", () => {
    const done = view().entities.map((e) => ({ ...e, phase: "done" as const, doneMs: 5000 }));
    // It outranks a held broker: that word came from the connection now lost.
    expect(renderFrame(view({ entities: done, brokerHeld: true, resuming: { deadlineMs: 125_500 } }), 80, 6000)[0]).toBe("session 01234567  6.0s  50,010 rows sent  gateway lost, resuming (120s left)");
    expect(renderFrame(view({ resuming: { deadlineMs: 5000 } }), 120, 6000)[0]).toEndWith("gateway lost, resuming (0s left)");
    expect(renderFrame(view({ resuming: null }), 120, 6000)[0]).not.toContain("gateway lost");
  });

  test("results line drops chunk counts, then goes compact when it does not fit", () => {
    expect(renderQueriesLine(view(), 60)).toBe("results  q1 ✓ 3 chunks 9.0s  q2 1 chunk…  q3 -");
    expect(renderQueriesLine(view(), 40)).toBe("results  q1 ✓ 9.0s  q2 1…  q3 -");
    expect(renderQueriesLine(view(), 30)).toBe("results q1✓ q2:1 q3-");
  });

  test("fitLine leaves the last column free and marks the cut", () => {
    expect(fitLine("abcdef", 7)).toBe("abcdef");
    expect(fitLine("abcdefg", 7)).toBe("abcde…");
    expect(fitLine("abc", 1)).toBe("…");
  });

  test("redraw moves up over the previous frame and clears what is left below", () => {
    expect(redrawFrame(0, ["a", "b"])).toBe("\r\x1b[2Ka\n\x1b[2Kb\x1b[J");
    expect(redrawFrame(1, ["a"])).toBe("\r\x1b[2Ka\x1b[J");
    expect(redrawFrame(3, ["a", "b"])).toBe("\r\x1b[2A\x1b[2Ka\n\x1b[2Kb\x1b[J");
  });
});

describe("log lines (not a TTY)", () => {
  test("only entities that moved, plus the results line when it moved or nothing else did", () => {
    const log = new LogLines();
    const v = view();
    const first = log.next(v, 5000);
    expect(first).toEqual([
      "[5.0s] stores: done in 0.1s, 10 rows sent, 200 rows/s",
      "[5.0s] transaction_items: 50,000 rows sent, 40,000 acked, 3 rejected, 25%, 10,000 rows/s, ETA 12s",
      "[5.0s] results: q1 complete (3 chunks, 9.0s), q2 1 chunk, q3 none yet",
    ]);
    // Nothing moved: a heartbeat with the results, so a long wait still shows life.
    expect(log.next(v, 10_000)).toEqual(["[10.0s] results: q1 complete (3 chunks, 9.0s), q2 1 chunk, q3 none yet"]);
    const moved = { ...v, entities: v.entities.map((e) => (e.name === "transaction_items" ? { ...e, rowsAcked: 50_000 } : e)) };
    expect(log.next(moved, 15_000)).toEqual(["[15.0s] transaction_items: 50,000 rows sent, 50,000 acked, 3 rejected, 25%, 3,571 rows/s, ETA 42s"]);
    expect(new LogLines().next(view({ session: null }), 2000)).toEqual(["[2.0s] connecting to the gateway…"]);
  });

  test("a broker that takes no publishes is said once, and so is its end; nothing at the start", () => {
    const log = new LogLines();
    const v = view();
    expect(log.next(v, 5000).join("\n")).not.toContain("broker");
    expect(log.next({ ...v, brokerHeld: true }, 10_000)).toEqual(["[10.0s] the broker takes no publishes (down or unreachable? a memory or disk alarm? quorum queues without their majority?), waiting; nothing is lost"]);
    expect(log.next({ ...v, brokerHeld: true }, 15_000).join("\n")).not.toContain("broker");
    expect(log.next(v, 20_000)).toEqual(["[20.0s] the gateway no longer says the broker takes no publishes"]);
  });

  test("never says `results in`: scripts find the results directory by those words", () => {
    const lines = [...new LogLines().next(view(), 5000), ...renderFrame(view(), 200, 5000), ...renderSummary(view(), 10)];
    for (const line of lines) expect(line).not.toContain("results in");
  });
});

describe("summary", () => {
  test("per entity, totals and query completion times", () => {
    const v = view({
      entities: [
        entity({ name: "stores", phase: "done", rowsSent: 10, rowsAcked: 10, startedMs: 100, doneMs: 110 }),
        entity({ name: "transaction_items", phase: "done", rowsSent: 1_000_000, rowsAcked: 1_000_000, rejected: 12, startedMs: 1000, doneMs: 11_000 }),
        entity({ name: "users", totalBytes: 0 }),
      ],
      queries: [{ name: "q1", chunks: 3, completeMs: 12_345 }, { name: "q2", chunks: 1, completeMs: null }],
    });
    expect(renderSummary(v, 12.5)).toEqual([
      "entity               rows sent  rejected      rows/s       time",
      "stores                      10         0           -     0.01 s",
      "transaction_items    1,000,000        12     100,000    10.00 s",
      "users                        0         0           -          -",
      "total                1,000,010        12      80,001    12.50 s",
      "query  complete after  chunks",
      "q1            12.35 s       3",
      "q2         incomplete       1",
    ]);
  });
});

describe("Progress", () => {
  /** Streams that record what was written. */
  function streams(tty: boolean): ProgressStreams & { err: string[]; out: string[] } {
    const err: string[] = [];
    const out: string[] = [];
    return { err, out, stderr: { isTTY: tty, columns: 40, write: (t: string) => err.push(t) }, stdout: { write: (t: string) => out.push(t) } };
  }
  const renderer = { frame: (width: number) => [`w${width}`, "b"], log: () => ["logged"] };

  test("TTY: frames on stderr, redrawn over the previous one, ended with a newline", () => {
    const s = streams(true);
    const p = new Progress(true, renderer, { tty: 200, log: 5000 }, s);
    p.tick();
    p.tick();
    p.finish();
    p.finish();
    expect(s.err).toEqual([redrawFrame(0, ["w40", "b"]), redrawFrame(2, ["w40", "b"]), redrawFrame(2, ["w40", "b"]), "\n"]);
    expect(s.out).toEqual([]);
  });

  test("not a TTY: log lines on stdout; disabled: nothing at all", () => {
    const s = streams(false);
    const p = new Progress(true, renderer, { tty: 200, log: 5000 }, s);
    p.tick();
    p.finish();
    expect(s.out).toEqual(["logged\n"]);
    expect(s.err).toEqual([]);
    const quiet = streams(true);
    const q = new Progress(false, renderer, { tty: 200, log: 5000 }, quiet);
    q.start();
    q.tick();
    q.finish();
    expect([...quiet.err, ...quiet.out]).toEqual([]);
  });

  test("a note is said at once: above the frame on a TTY, which is drawn again below it; a line otherwise; nothing when quiet or finished", () => {
    const tty = streams(true);
    const p = new Progress(true, renderer, { tty: 200, log: 5000 }, tty);
    p.tick();
    p.note("lost the gateway");
    p.tick();
    expect(tty.err).toEqual([redrawFrame(0, ["w40", "b"]), `${redrawFrame(2, ["lost the gateway"])}\n`, redrawFrame(0, ["w40", "b"]), redrawFrame(2, ["w40", "b"])]);
    const plain = streams(false);
    const q = new Progress(true, renderer, { tty: 200, log: 5000 }, plain);
    q.note("lost the gateway");
    q.finish();
    q.note("after the end");
    expect(plain.out).toEqual(["lost the gateway\n"]);
    const quiet = streams(false);
    new Progress(false, renderer, { tty: 200, log: 5000 }, quiet).note("lost the gateway");
    expect([...quiet.err, ...quiet.out]).toEqual([]);
  });

  test("a TTY that was never drawn on gets no stray newline", () => {
    const s = streams(true);
    new Progress(true, renderer, { tty: 200, log: 5000 }, s).finish();
    expect(s.err).toEqual([]);
  });
});

describe("csvSource byte counting (the bars' progress estimate)", () => {
  const dir = mkdtempSync(join(tmpdir(), "coffee-bars-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("bytesRead tracks where each batch's last row ends and finishes at the file size", async () => {
    const file = join(dir, "stores.csv");
    const header = "store_id,store_name,street,postal_code,city,state,latitude,longitude\n";
    // Rows of varying length and a multi-byte name, so byte and character counts differ.
    const rows = Array.from({ length: 200 }, (_, i) => `${i},store ${"x".repeat(i % 7)} ${i % 2 ? "café" : "bar"},street,1000,city,state,1.0,2.0\n`);
    writeFileSync(file, header + rows.join(""));
    const endOf = (dataRows: number): number => Buffer.byteLength(header + rows.slice(0, dataRows).join(""));
    for (const chunkBytes of [64, 1024, 1 << 20]) {
      const seen: number[] = [];
      for await (const b of readEntityFile(file, "stores", () => {}, { batchRows: 30, chunkBytes })) seen.push(b.bytesRead);
      expect(seen).toHaveLength(7);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
      // Within a row or two of the exact offset: placed by row count inside a chunk.
      seen.slice(0, -1).forEach((at, i) => expect(Math.abs(at - endOf(30 * (i + 1)))).toBeLessThan(100));
      expect(seen[seen.length - 1]).toBe(statSync(file).size);
    }
  });
});
