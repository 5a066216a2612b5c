import { describe, expect, test } from "bun:test";
import { renderStatus, type ClusterStatus } from "./commands/status.ts";
import { describeSession, queuesFrom, sessionsFrom, startQueuePoller } from "./gatewayStatus.ts";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";
import { allQueues, PROBE_QUEUE, queuesFor } from "./topology.ts";
import type { Transport } from "./transport.ts";

const session = describeSession({
  id: "abcdef0123456789", connected: false, rowsAcked: new Map([["users", 40]]), eosConfirmed: new Set(["users", "stores"]),
  chunks: [{ query: "q2", chunk: 1, last: true }], delivered: new Map(), openedAtMs: 1_000, movedAtMs: 31_000, recovered: false,
}, 91_400);

describe("gateway status", () => {
  test("a session's results are complete only with every chunk up to the last", () => {
    expect(session.id).toBe("abcdef01");
    expect(session.results.q2).toEqual({ stored: 1, delivered: 0, complete: false });
    expect(session.eos).toEqual(["users", "stores"]);
    // How long the gateway has had it, and how long it has not moved: a stuck session from a slow one.
    expect([session.ageS, session.stillS]).toEqual([90, 60]);
  });

  test("readers survive a round trip through JSON, and garbage reads as nothing", () => {
    const status = JSON.parse(JSON.stringify({ openSessions: [session], queues: [{ queue: "results", messages: 2, consumers: 1 }] })) as Record<string, unknown>;
    expect(sessionsFrom(status)).toEqual([session]);
    expect(session.recovered).toBeUndefined();
    const recovered = { ...session, recovered: true as const };
    expect(sessionsFrom(JSON.parse(JSON.stringify({ openSessions: [recovered] })) as Record<string, unknown>)).toEqual([recovered]);
    expect(queuesFrom(status)).toEqual([{ queue: "results", messages: 2, consumers: 1 }]);
    expect(sessionsFrom({ openSessions: "x" })).toEqual([]);
    expect(sessionsFrom({ openSessions: [{ rows: { users: "many" }, eos: ["nope"] }] })[0]!.rows.users).toBe(0);
    expect(queuesFrom({ queues: null })).toBeNull();
  });

  test("the memory transport reports its namespace's queues; the poller keeps the latest", async () => {
    const broker = new MemoryBroker();
    const t = new MemoryTransport(broker, "ns");
    await new MemoryTransport(broker, "other").declare(allQueues());
    await t.declare(allQueues());
    await t.publish("results", new Uint8Array([1]));
    const depths = await t.queueDepths();
    expect(depths.map((d) => d.queue)).toEqual(queuesFor(allQueues(), "classic").map((q) => q.name));
    expect(depths.find((d) => d.queue === "results")).toEqual({ queue: "results", messages: 1, consumers: 0 });
    const { promise: first, resolve: polled } = Promise.withResolvers<void>();
    const poller = startQueuePoller(t, 10_000, () => {}, () => polled());
    await first;
    expect(poller.latest()?.length).toBe(depths.length);
    poller.stop();
  });

  test("while fastWhile holds, depths are polled every fastMs instead of every intervalMs", async () => {
    const t = { queueDepths: async () => [] } as unknown as Transport;
    let polls = 0;
    let wake: () => void = () => {};
    const polled = (n: number): Promise<void> => new Promise((r) => { wake = () => { if (polls >= n) r(); }; wake(); });
    // A minute between slow polls: five polls within the test's time come only from fast mode.
    const poller = startQueuePoller(t, 60_000, () => {}, () => { polls++; wake(); }, { fastMs: 5, fastWhile: () => true, onPollStart: () => {} });
    await polled(5);
    poller.stop();
    expect(polls).toBeGreaterThanOrEqual(5);
  });

  test("pollNow during a poll polls once more right after it, not alongside it", async () => {
    const answers: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const t = { queueDepths: () => new Promise((r) => { inFlight++; most = Math.max(most, inFlight); answers.push(() => { inFlight--; r([]); }); }) } as unknown as Transport;
    let polls = 0;
    let wake: () => void = () => {};
    const polled = (n: number): Promise<void> => new Promise((r) => { wake = () => { if (polls >= n) r(); }; wake(); });
    const poller = startQueuePoller(t, 60_000, () => {}, () => { polls++; wake(); });
    poller.pollNow();
    poller.pollNow();
    expect(answers).toHaveLength(1);
    answers.shift()!();
    await polled(1);
    // The asks made during the first poll come as one more poll, started as the first one ended.
    expect(answers).toHaveLength(1);
    answers.shift()!();
    await polled(2);
    poller.stop();
    expect(most).toBe(1);
    expect(answers).toHaveLength(0);
  });

  test("a failing poll clears the depths and is reported once per streak", async () => {
    const errors: string[] = [];
    let fail = true;
    const t = { queueDepths: async () => { if (fail) throw new Error("down"); return []; } } as unknown as Transport;
    let polls = 0;
    let wake: () => void = () => {};
    const polled = (n: number): Promise<void> => new Promise((r) => { wake = () => { if (polls >= n) r(); }; wake(); });
    const poller = startQueuePoller(t, 5, (m) => errors.push(m), () => { polls++; wake(); });
    await polled(4);
    expect(poller.latest()).toBeNull();
    expect(errors).toEqual(["queue depths unavailable: down"]);
    fail = false;
    await polled(polls + 1);
    expect(poller.latest()).toEqual([]);
    poller.stop();
  });

  test("coffee status prints sessions with progress and queue depths", () => {
    const status: ClusterStatus = {
      processes: [{ name: "gateway", role: "gateway", pid: 1, healthy: true, uptimeS: 3, restarts: 1, detail: { sessions: 1, openSessions: [session] }, osState: null }],
      leader: "monitor-1", term: 2, openSessions: 1, sessions: [session],
      queues: [{ queue: "agg-q1", messages: 5, consumers: 1 }, { queue: "filter-time", messages: 0, consumers: 2 }, { queue: "filter-amount", messages: 3, consumers: 0 }, { queue: "filter-year", messages: 0, consumers: 0 }, { queue: PROBE_QUEUE, messages: 0, consumers: 0 }],
      fusedQueues: { "filter-time": "transactions", "filter-amount": "transactions" },
      setAside: [],
      lastErrors: {},
    };
    const text = renderStatus(status);
    expect(text).toMatch(/^NAME\s+ROLE\s+PID\s+HEALTH\s+UPTIME\s+RESTARTS\s+DETAIL\ngateway\s+gateway\s+1\s+ok\s+3s\s+1\s+sessions=1\n/);
    expect(text).toContain("leader: monitor-1 (term 2)");
    expect(text).toMatch(/abcdef01\s+away\s+90s\s+60s\s+0\s+0\s+40\+\s+0\+\s+0\s+0\/0\s+1\/0\s+0\/0\s+0\/0\n/);
    expect(text).not.toContain("recovered from the gateway's log");
    // A session the gateway took back from its log at a restart: its counts start there, and the table says so.
    const afterRestart = renderStatus({ ...status, sessions: [{ ...session, recovered: true }] });
    expect(afterRestart).toMatch(/abcdef01\*\s+away\s+90s/);
    expect(afterRestart).toContain("  * recovered from the gateway's log at its last start: AGE and rows count from then\n");
    expect(text).toMatch(/agg-q1\s+5\s+1\n/);
    // A fused stage's queue is read by its chain's workers, for what a split deployment left
    // there; with none to read it, what it holds waits like any other queue's.
    expect(text).toMatch(/filter-time\s+0\s+2 \(fused into transactions: drains what a split deployment left\)\n/);
    expect(text).toMatch(/filter-amount\s+3\s+0 \(nobody reads it: its process is down, or stopped consuming: see its log\)\n/);
    // Any other queue without consumers or messages stays a plain 0.
    expect(text).toMatch(/filter-year\s+0\s+0\n/);
    // The probe queue never has a consumer, and should not look like a stage nobody runs.
    expect(text).toMatch(/probe\s+0\s+0 \(the gateway's broker probe: keeps nothing, needs none\)\n/);
    expect(renderStatus({ ...status, openSessions: 0, sessions: [], queues: null })).toContain("sessions: none open\nqueues: unknown");
    expect(text).not.toContain("set aside");
    expect(text).not.toContain("uploads held");
    // A gateway holding uploads for the pipeline's backlog says which queue, through JSON as it travels.
    const detail = JSON.parse(JSON.stringify({ ...status.processes[0]!.detail, backlog: { held: true, deepest: { queue: "filter-year", messages: 40 } } })) as Record<string, unknown>;
    const held = renderStatus({ ...status, processes: [{ ...status.processes[0]!, detail }] });
    expect(held).toContain("uploads held: filter-year has 40 messages ready, past the gateway's --max-backlog; uploads are read again once every pipeline queue is down to half of it\n");
    // A gateway that says what its gate counts: the depth polled and the publishes since, whose sum is what holds.
    const counted = JSON.parse(JSON.stringify({ ...status.processes[0]!.detail, backlog: { held: true, deepest: { queue: "filter-year", messages: 0 }, unpolled: 40, bound: 32 } })) as Record<string, unknown>;
    expect(renderStatus({ ...status, processes: [{ ...status.processes[0]!, detail: counted }] })).toContain("uploads held: the pipeline's backlog passed the gateway's --max-backlog 32 and counts 40 now (filter-year: 0 ready at the last poll, plus 40 published since); uploads are read again once it is down to 16\n");
    const released = renderStatus({ ...status, processes: [{ ...status.processes[0]!, detail: { ...detail, backlog: { held: false, deepest: null } } }] });
    expect(released).not.toContain("uploads held");
    expect(text).not.toContain("broker:");
    expect(text).not.toContain("revival:");
    // Messages with nobody to read them point at a process that is down.
    expect(renderStatus({ ...status, queues: [{ queue: "filter-year", messages: 7, consumers: 0 }] })).toMatch(/filter-year\s+7\s+0 \(nobody reads it: its process is down, or stopped consuming: see its log\)\n/);
    const aside = renderStatus({ ...status, setAside: [{ process: "agg-q3", folder: "agg-q3/corrupt-2026-12-07T04-05-06-789Z", bytes: 3 * 1_048_576 }] });
    expect(aside).toEndWith("set aside: 1 folder(s) of damaged state, kept for a look (README, Troubleshooting); delete each once done\n  agg-q3/corrupt-2026-12-07T04-05-06-789Z (3.0 MB)\n");
  });

  test("coffee status says what HEALTH alone does not: processes without their broker, processes the monitors gave up on and why they died", () => {
    const proc = (name: string, role: string, detail: Record<string, unknown>, healthy = true): ClusterStatus["processes"][number] => ({ name, role, pid: 1, healthy, uptimeS: 1, restarts: 0, detail, osState: healthy ? null : "exited" });
    const status: ClusterStatus = {
      processes: [
        proc("gateway", "gateway", { state: "running", broker: "reconnecting" }),
        proc("agg-q1", "aggregator", { state: "starting" }),
        proc("agg-q2", "aggregator", { state: "starting", broker: "connected" }),
        proc("agg-q3", "aggregator", {}, false),
        proc("agg-q4", "aggregator", { state: "running", broker: "blocked" }),
        proc("monitor-1", "monitor", { term: 3, leader: "monitor-1", gaveUp: [{ process: "agg-q3", attempts: 10, sinceS: 12 }, { process: "agg-q2", attempts: 10, sinceS: 99 }] }),
        // A former leader's list: its budgets no longer hold.
        proc("monitor-2", "monitor", { term: 3, leader: "monitor-1", gaveUp: [{ process: "agg-q4", attempts: 10, sinceS: 500 }] }),
      ],
      leader: "monitor-1", term: 3, openSessions: 0, sessions: [], queues: null, fusedQueues: {}, setAside: [],
      lastErrors: { "agg-q3": "WAL_IO_FAILED: WAL write in /s/agg-q3 failed (fatal): ENOSPC" },
    };
    const text = renderStatus(status);
    expect(text).toContain("agg-q3: the last error in its log: WAL_IO_FAILED: WAL write in /s/agg-q3 failed (fatal): ENOSPC\n");
    expect(text).toContain("broker: 2 of 4 answering processes have no connection to it (gateway, agg-q1): down or unreachable? They connect again on their own, and lose nothing meanwhile\n");
    expect(text).toContain("broker: it takes no publishes from 1 of 4 answering processes (agg-q4): a memory or disk alarm (rabbitmqctl status)? They wait, and lose nothing\n");
    // agg-q2 (replaying its log, its broker connected) is not counted among those without one;
    // and it answers again: the monitor's word on it is stale.
    expect(text).toContain("revival: monitor-1 gave up on agg-q3 after 10 attempts, the last 12 s ago; it tries again with a fresh budget a minute or more after its last attempt (meanwhile, fix what the process's log says)\n");
    expect(text).not.toContain("gave up on agg-q2");
    expect(text).not.toContain("gave up on agg-q4");
  });
});
