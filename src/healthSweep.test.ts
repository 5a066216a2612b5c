import { describe, expect, test } from "bun:test";
import type { ClusterProcess } from "./clusterPlan.ts";
import { HealthSweep } from "./healthSweep.ts";
import type { Logger } from "./log.ts";
import { RevivalError, type RevivalBackend, type RevivalOutcome, type ReviveOptions } from "./revival.ts";

const entry = (name: string): ClusterProcess => ({ name, role: "worker", healthPort: 1 }) as ClusterProcess;

/** A backend whose revivals stay pending until the test settles them. */
class HeldBackend implements RevivalBackend {
  readonly calls: string[] = [];
  readonly replaced: boolean[] = [];
  /** The pid each replace was meant for. */
  readonly replacedPids: (number | null | undefined)[] = [];
  private readonly pending = new Map<string, { resolve: (o: RevivalOutcome) => void; reject: (e: unknown) => void }>();
  revive(name: string, _term: number, options: ReviveOptions = {}): Promise<RevivalOutcome> {
    this.calls.push(name);
    this.replaced.push(options.replace === true);
    if (options.replace) this.replacedPids.push(options.pid);
    return new Promise((resolve, reject) => this.pending.set(name, { resolve, reject }));
  }
  finish(name: string, outcome: RevivalOutcome = "started"): void {
    this.pending.get(name)?.resolve(outcome);
  }
  fail(name: string, err: unknown): void {
    this.pending.get(name)?.reject(err);
  }
}

function setup(answering: Set<string>, backend: RevivalBackend | null, clock = { now: 0 }) {
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
  const revived: string[] = [];
  const pinged: string[] = [];
  let leading = true;
  const sweep = new HealthSweep({
    ping: async (e) => {
      pinged.push(e.name);
      return answering.has(e.name);
    },
    missesToDown: 2, backend, stillLeading: () => leading, onRevived: (n) => revived.push(n), log, hungAfterMs: 30_000, now: () => clock.now,
  });
  return { sweep, lines, revived, pinged, stepDown: () => { leading = false; } };
}

describe("HealthSweep", () => {
  test("a revival that does not return keeps neither the rounds nor other revivals waiting", async () => {
    const answering = new Set(["a", "b"]);
    const backend = new HeldBackend();
    const { sweep, revived, pinged } = setup(answering, backend);
    const entries = [entry("a"), entry("b")];
    answering.delete("a");
    await sweep.round(entries, 1);
    await sweep.round(entries, 1);
    expect(backend.calls).toEqual(["a"]);
    // a's start hangs; later rounds still finish and still check b
    pinged.length = 0;
    await sweep.round(entries, 1);
    expect(pinged).toEqual(["a", "b"]);
    expect(backend.calls).toEqual(["a"]); // no second attempt while one is in flight
    answering.delete("b");
    await sweep.round(entries, 1);
    await sweep.round(entries, 1);
    expect(backend.calls).toEqual(["a", "b"]);
    expect(sweep.revivalsInFlight).toBe(2);
    backend.finish("b");
    backend.finish("a");
    await sweep.settled();
    expect(revived.sort()).toEqual(["a", "b"]);
    expect(sweep.revivalsInFlight).toBe(0);
  });

  test("down after the configured misses, up again on an answer", async () => {
    const answering = new Set<string>();
    const backend = new HeldBackend();
    const { sweep, lines } = setup(answering, backend);
    await sweep.round([entry("a")], 1);
    expect(sweep.down.size).toBe(0);
    await sweep.round([entry("a")], 1);
    expect([...sweep.down]).toEqual(["a"]);
    answering.add("a");
    await sweep.round([entry("a")], 1);
    expect(sweep.down.size).toBe(0);
    expect(lines.some((l) => l.includes("a is answering again"))).toBe(true);
  });

  test("a monitor that stepped down records and revives nothing, and forgets what it found down", async () => {
    const backend = new HeldBackend();
    const { sweep, stepDown } = setup(new Set(), backend);
    await sweep.round([entry("a"), entry("b")], 1);
    await sweep.round([entry("a"), entry("b")], 1);
    expect(sweep.down.size).toBe(2);
    backend.finish("a");
    backend.finish("b");
    await sweep.settled();
    sweep.forgetDown();
    expect(sweep.down.size).toBe(0);
    stepDown();
    await sweep.round([entry("a"), entry("b")], 1);
    await sweep.round([entry("a"), entry("b")], 1);
    expect(sweep.down.size).toBe(0);
    expect(backend.calls).toEqual(["a", "b"]);
  });

  test("a process taken out of the cluster file is no longer reported down", async () => {
    const { sweep } = setup(new Set(), null);
    await sweep.round([entry("a"), entry("b")], 1);
    await sweep.round([entry("a"), entry("b")], 1);
    expect([...sweep.down].sort()).toEqual(["a", "b"]);
    await sweep.round([entry("b")], 1);
    expect([...sweep.down]).toEqual(["b"]);
  });

  test("backoff refusals are quiet, other failures are logged, and neither counts as a revival", async () => {
    const backend = new HeldBackend();
    const { sweep, lines, revived } = setup(new Set(), backend);
    await sweep.round([entry("a"), entry("b")], 1);
    await sweep.round([entry("a"), entry("b")], 1);
    backend.fail("a", new RevivalError("REVIVAL_BACKOFF", "a", "backing off a"));
    backend.fail("b", new RevivalError("REVIVAL_FAILED", "b", "docker said no to b"));
    await sweep.settled();
    expect(revived).toEqual([]);
    expect(lines.filter((l) => l.startsWith("WARN") && l.includes("backing off"))).toEqual([]);
    expect(lines.some((l) => l.includes("docker said no to b"))).toBe(true);
    // settled attempts free their slot: the next round asks again
    await sweep.round([entry("a")], 1);
    expect(backend.calls.filter((n) => n === "a").length).toBe(2);
  });
});

describe("HealthSweep: processes found running", () => {
  /** One process "w" on a held backend and a clock of the test's; `round(atMs, answers)` checks it once. */
  const watchW = () => {
    const backend = new HeldBackend();
    const clock = { now: 0 };
    const answering = new Set<string>();
    const { sweep, revived } = setup(answering, backend, clock);
    const round = async (atMs: number, answers = false): Promise<void> => {
      clock.now = atMs;
      if (answers) answering.add("w");
      else answering.delete("w");
      await sweep.round([entry("w")], 1);
    };
    /** Rounds from `fromMs` to before `toMs`, 250 ms apart, each asked revival answered "running". */
    const silentRunning = async (fromMs: number, toMs: number): Promise<void> => {
      for (let t = fromMs; t < toMs; t += 250) {
        await round(t);
        backend.finish("w", "running");
        await sweep.settled();
      }
    };
    /**
     * w first misses at `fromMs` and is found running; kept silent, it is not replaced before
     * `replacedAtMs` and is replaced at it.
     */
    const replacedAt = async (fromMs: number, replacedAtMs: number): Promise<void> => {
      await round(fromMs);
      await round(fromMs + 250);
      backend.finish("w", "running");
      await sweep.settled();
      await silentRunning(fromMs + 500, replacedAtMs);
      expect(backend.replaced.every((r) => !r)).toBe(true);
      await round(replacedAtMs);
      expect(backend.replaced.at(-1)).toBe(true);
    };
    return { backend, sweep, revived, round, silentRunning, replacedAt };
  };

  test("left alone and asked about again every second, then replaced once silent for hungAfterMs", async () => {
    const { backend, sweep, revived, round, silentRunning } = watchW();
    await round(0, true);
    await round(250);
    await round(500);
    expect(backend.replaced).toEqual([false]);
    backend.finish("w", "running");
    await sweep.settled();
    expect(revived).toEqual([]);
    // Running but silent: asked again once a second, never replaced before 30 s.
    await silentRunning(750, 30_250);
    expect(backend.calls.length).toBeGreaterThanOrEqual(28);
    expect(backend.calls.length).toBeLessThanOrEqual(31);
    expect(backend.replaced.every((r) => !r)).toBe(true);
    // Silent since its first miss at 250 ms: 30 s later it is replaced.
    await round(30_250);
    expect(backend.replaced.at(-1)).toBe(true);
    backend.finish("w", "started");
    await sweep.settled();
    expect(revived).toEqual(["w"]);
    // The new process, silent since its start, may be replaying a log: slow is not hung for twice
    // hungAfterMs from its first miss (30.5 s)...
    await silentRunning(30_500, 90_500);
    expect(backend.replaced.filter((r) => r)).toHaveLength(1);
    // ...but one that hung before its first answer is not kept for good.
    await round(90_500);
    expect(backend.replaced.at(-1)).toBe(true);
  });

  test("one never seen answering nor started here (a new leader's view) is replaced after twice hungAfterMs", async () => {
    // Silent from this monitor's first look: it took over while w was already hung.
    await watchW().replacedAt(0, 60_000);
  });

  test("what it started is forgotten with its leadership: back as leader, a silent w it once started is replaced after twice hungAfterMs", async () => {
    const { backend, sweep, revived, round, replacedAt } = watchW();
    await round(0);
    await round(250);
    backend.finish("w", "started");
    await sweep.settled();
    expect(revived).toEqual(["w"]);
    // Another monitor leads meanwhile (it may restart w, or hear it answer); then this one again.
    sweep.forgetDown();
    await replacedAt(1000, 61_000);
  });

  test("a new pid in the cluster file (restarted by someone else) restarts the silence clock; the replace names that pid", async () => {
    const backend = new HeldBackend();
    const clock = { now: 0 };
    const answering = new Set<string>(["w"]);
    const { sweep, lines } = setup(answering, backend, clock);
    let pid = 100;
    const round = async (atMs: number): Promise<void> => {
      clock.now = atMs;
      await sweep.round([{ ...entry("w"), pid } as ClusterProcess], 1);
      backend.finish("w", "running");
      await sweep.settled();
    };
    await round(0);
    answering.delete("w");
    for (let t = 250; t < 20_000; t += 250) await round(t);
    // Restarted by coffee up (or a request that waited) at 20 s: the old silence says nothing of it.
    pid = 200;
    // Without the new pid it would be replaced at 30 s (silent since 250 ms, after answering).
    for (let t = 20_000; t < 80_000; t += 250) await round(t);
    expect(backend.replaced.every((r) => !r)).toBe(true);
    // Silent since 20 s and never heard: twice hungAfterMs later it is taken for hung, by its own pid.
    await round(80_000);
    expect(backend.replaced.at(-1)).toBe(true);
    expect(backend.replacedPids).toEqual([200]);
    // Its start is known here (the pid changed under this monitor's eyes), as for one it revived itself.
    expect(lines.filter((l) => l.includes("is running but does not answer"))).toEqual([
      "WARN w is running but does not answer its health checks; it is replaced if silent for 30 s",
      "WARN w is running but does not answer its health checks; it has not answered since its start, so it may be replaying its log: it is replaced if silent for 60 s",
    ]);
  });

  test("found running, then dead: started again within a second, not after hungAfterMs", async () => {
    const { backend, sweep, revived, round } = watchW();
    await round(0, true);
    await round(250);
    await round(500);
    backend.finish("w", "running");
    await sweep.settled();
    await round(750);
    await round(1000);
    expect(backend.calls).toHaveLength(1);
    await round(1500);
    expect(backend.calls).toHaveLength(2);
    backend.finish("w", "started");
    await sweep.settled();
    expect(revived).toEqual(["w"]);
  });

  test("a revival that settles after the monitor stepped down changes nothing it knows", async () => {
    const { backend, sweep, round } = watchW();
    await round(0);
    await round(250);
    sweep.forgetDown();
    backend.finish("w", "running");
    await sweep.settled();
    // Leading again: the first rounds ask at once, with no memory of the old "running".
    await round(500);
    await round(750);
    expect(backend.calls).toHaveLength(2);
  });
});

describe("HealthSweep: an answer resets the count and the clock", () => {
  test("misses separated by an answer are not consecutive: not down", async () => {
    const answering = new Set<string>();
    const backend = new HeldBackend();
    const { sweep } = setup(answering, backend);
    await sweep.round([entry("a")], 1); // miss 1
    answering.add("a");
    await sweep.round([entry("a")], 1); // answers
    answering.delete("a");
    await sweep.round([entry("a")], 1); // miss 1 again
    expect(sweep.down.size).toBe(0);
    expect(backend.calls).toEqual([]);
  });

  test("silence is measured from the last answer, not from an earlier silence: a briefly slow process is not replaced", async () => {
    const answering = new Set<string>();
    const backend = new HeldBackend();
    const clock = { now: 0 };
    const { sweep } = setup(answering, backend, clock);
    answering.add("a");
    await sweep.round([entry("a")], 1); // answered once: hung after 30 s of silence
    answering.delete("a");
    clock.now = 1000;
    await sweep.round([entry("a")], 1); // silent since 1 s
    answering.add("a");
    clock.now = 29_000;
    await sweep.round([entry("a")], 1); // answers again
    answering.delete("a");
    clock.now = 40_000;
    await sweep.round([entry("a")], 1);
    clock.now = 41_000;
    await sweep.round([entry("a")], 1); // down (2 misses), silent for 1 s only
    expect([...sweep.down]).toEqual(["a"]);
    expect(backend.replaced).toEqual([false]);
  });
});
