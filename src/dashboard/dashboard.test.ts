import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterProcess } from "../clusterPlan.ts";
import type { ProcessStatus } from "../clusterView.ts";
import { describeSession } from "../gatewayStatus.ts";
import { startHealthServer, type HealthServer } from "../health.ts";
import { freeTcpPort } from "../ports.ts";
import { RateHistory } from "./history.ts";
import { DASHBOARD_CSP, DASHBOARD_HTML } from "./page.ts";
import { DASHBOARD_JS } from "./script.ts";
import { DashboardError, startDashboard, type Dashboard } from "./server.ts";
import { buildState, processInfo, type DashboardState } from "./state.ts";

describe("RateHistory", () => {
  test("rates between samples, per second, oldest first, capped", () => {
    const h = new RateHistory(3);
    h.add(1000, 0);
    h.add(2000, 500);
    h.add(4000, 1500);
    expect(h.series()).toEqual([null, 500, 500]);
    h.add(5000, 1600);
    expect(h.series()).toEqual([500, 500, 100]);
  });

  test("a gap is null and the next rate spans it; a smaller counter means a restart", () => {
    const h = new RateHistory(10);
    h.add(0, 100);
    h.add(1000, null);
    h.add(2000, 300);
    h.add(3000, 50);
    expect(h.series()).toEqual([null, null, 100, 50]);
  });
});

const proc = (p: Partial<ProcessStatus> & { name: string; role: string }): ProcessStatus =>
  ({ pid: 1, healthy: true, uptimeS: 5, restarts: 0, detail: {}, osState: null, ...p });

describe("dashboard state", () => {
  test("sessions and queues come from the gateway's reply; every process gets a row", () => {
    const session = describeSession({
      id: "0123456789abcdef", connected: true, rowsAcked: new Map([["transactions", 250]]), eosConfirmed: new Set(["stores"]),
      chunks: [{ query: "q1", chunk: 0, last: false }, { query: "q1", chunk: 1, last: true }], delivered: new Map([["q1", 1]]), openedAtMs: 0, movedAtMs: 4_000, recovered: false,
    }, 10_000);
    const gateway = proc({ name: "gateway", role: "gateway", detail: { state: "running", rssMb: 80, sessions: 1, rowsIn: 250, openSessions: [session], queues: [{ queue: "agg-q1", messages: 7, consumers: 1 }] } });
    const monitor = proc({ name: "monitor-1", role: "monitor", restarts: 2, detail: { state: "leader", term: 4, down: 1 } });
    const down = proc({ name: "agg-q2", role: "aggregator", healthy: false, uptimeS: null });
    const history = new RateHistory(5);
    history.add(0, 0);
    history.add(1000, 250);
    const s = buildState({ at: 1, servedBy: "monitor-1", election: { leader: "monitor-1", term: 4, state: "leader" }, processes: [gateway, monitor, down], history, intervalMs: 1000 });
    expect(s.processes.map((p) => [p.name, p.healthy, p.state, p.restarts])).toEqual([["gateway", true, "running", 0], ["monitor-1", true, "leader", 2], ["agg-q2", false, null, 0]]);
    expect(s.sessions).toEqual([{ id: "01234567", connected: true, rows: { transactions: 250, transaction_items: 0, users: 0, stores: 0, menu_items: 0 }, eos: ["stores"],
      results: { q1: { stored: 2, delivered: 1, complete: true }, q2: { stored: 0, delivered: 0, complete: false }, q3: { stored: 0, delivered: 0, complete: false }, q4: { stored: 0, delivered: 0, complete: false } }, ageS: 10, stillS: 6 }]);
    expect(s.queues).toEqual([{ queue: "agg-q1", messages: 7, consumers: 1 }]);
    expect(s.throughput).toEqual({ intervalMs: 1000, windowPoints: 5, rowsPerS: [null, 250], rowsTotal: 250 });
    expect(processInfo(monitor)).toBe("term 4 · 1 down");
  });

  test("a process whose broker connection is down or blocked says so", () => {
    const agg = (broker: string): ProcessStatus => proc({ name: "agg-q3", role: "aggregator", detail: { state: "running", query: "q3", sessions: 1, batches: 2, broker } });
    expect(processInfo(agg("connected"))).toBe("q3 · 1 session · 2 batches");
    expect(processInfo(agg("reconnecting"))).toBe("q3 · 1 session · 2 batches · broker reconnecting");
    expect(processInfo(agg("blocked"))).toBe("q3 · 1 session · 2 batches · broker blocks publishing (a resource alarm)");
  });

  test("no gateway answering: no sessions, unknown queues", () => {
    const s = buildState({ at: 1, servedBy: "m", election: { leader: null, term: 0, state: "candidate" }, processes: [proc({ name: "gateway", role: "gateway", healthy: false })], history: new RateHistory(2), intervalMs: 1000 });
    expect(s.openSessions).toBe(0);
    expect(s.sessions).toEqual([]);
    expect(s.queues).toBeNull();
  });
});

describe("the page", () => {
  test("fetches nothing from elsewhere, and its CSP allows exactly its inline script and style", () => {
    expect(DASHBOARD_HTML).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(DASHBOARD_HTML).not.toMatch(/@import|url\(/);
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).toContain("connect-src 'self'");
    expect(DASHBOARD_CSP).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    // The script is embedded in a template string: it must not have been cut short by one.
    expect(DASHBOARD_JS).toContain("poll();\n})();");
  });
});

describe("dashboard server", () => {
  let dir: string;
  let health: HealthServer;
  let dashboard: Dashboard;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "coffee-dash-"));
    health = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "gateway", name: "gateway", state: "running", sessions: 0, rowsIn: 10, openSessions: [], queues: [] }) });
    const entries: ClusterProcess[] = [{ name: "gateway", role: "gateway", pid: 42, alive: true, healthPort: health.port, restarts: 3 }];
    writeFileSync(join(dir, "cluster.json"), JSON.stringify(entries));
    port = freeTcpPort();
    dashboard = await startDashboard({ host: "127.0.0.1", port, clusterFile: join(dir, "cluster.json"), servedBy: "monitor-1", election: () => ({ leader: "monitor-1", term: 7, state: "leader" }), timeoutMs: 300, intervalMs: 100, historyPoints: 10 });
  });

  afterAll(() => {
    dashboard?.stop();
    health?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("GET / is the page with its CSP; GET /api/state the sample; anything else 404/405", async () => {
    expect(dashboard.url).toBe(`http://127.0.0.1:${port}/`);
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(await page.text()).toBe(DASHBOARD_HTML);
    const state = (await (await fetch(`${dashboard.url}api/state`)).json()) as DashboardState;
    expect(state.election).toEqual({ leader: "monitor-1", term: 7, state: "leader" });
    expect(state.processes).toEqual([{ name: "gateway", role: "gateway", pid: 42, healthy: true, state: "running", uptimeS: expect.any(Number), rssMb: null, heapMb: null, restarts: 3, info: "0 sessions open · 10 rows in · 0 sessions finished" }]);
    expect(state.queues).toEqual([]);
    expect((await fetch(`${dashboard.url}nope`)).status).toBe(404);
    expect((await fetch(dashboard.url, { method: "POST" })).status).toBe(405);
  });

  test("a page that rebinds its own name to 127.0.0.1 gets 403 (the browser sends that name as Host)", async () => {
    const asked = async (host: string): Promise<number> => (await fetch(`${dashboard.url}api/state`, { headers: { host } })).status;
    expect(await asked(`evil.example:${port}`)).toBe(403);
    expect(await asked(`localhost:${port}`)).toBe(200);
    expect(await asked(`127.0.0.1:${port}`)).toBe(200);
  });

  test("a taken port is a DashboardError", async () => {
    const taken = startDashboard({ host: "127.0.0.1", port, clusterFile: join(dir, "cluster.json"), servedBy: "m", election: () => ({ leader: null, term: 0, state: "follower" }), timeoutMs: 50, intervalMs: 1000, historyPoints: 2 });
    await expect(taken).rejects.toBeInstanceOf(DashboardError);
  });
});
