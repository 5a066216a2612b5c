import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startControlApi, type ControlApi } from "./controlApi.ts";
import { LocalRevivalBackend } from "./localRevival.ts";
import { RevivalError } from "./revival.ts";
import { Supervisor } from "./supervisor.ts";

let api: ControlApi | null = null;
let dir = "";
afterEach(() => {
  api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${api!.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("start requests from a term older than one seen are fenced (409); wild terms are refused", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  api = startControlApi(new Supervisor(dir, () => {}, () => {}, () => null), () => {});
  expect((await post("/term", { term: 5 })).status).toBe(200);
  const stale = await post("/processes/worker-1/start", { term: 4 });
  expect(stale.status).toBe(409);
  expect(await stale.json()).toEqual({ error: "fenced", currentTerm: 5 });
  expect((await post("/processes/worker-1/start", { term: 5 })).status).toBe(404); // current term, unknown name
  expect((await post("/term", { term: 1e15 })).status).toBe(400);
  expect((await post("/term", { term: -1 })).status).toBe(400);
  expect(await (await fetch(`${api.url}/term`)).json()).toEqual({ term: 5 });
  expect(api.term).toBe(5);
});

test("a monitor fenced by coffee up learns the newer term from the refusal", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  api = startControlApi(new Supervisor(dir, () => {}, () => {}, () => null), () => {});
  expect((await post("/term", { term: 7 })).status).toBe(200);
  const backend = new LocalRevivalBackend({ controlUrl: api.url });
  const err = await backend.revive("worker-1", 4).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RevivalError);
  expect([(err as RevivalError).code, (err as RevivalError).newerTerm]).toEqual(["REVIVAL_FENCED", 7]);
  // A refusal is no failed start: it costs no attempt of the budget, and the backend now
  // refuses term 4 itself, without asking coffee up.
  expect(backend.guard.policy.attempts("worker-1", performance.now())).toBe(0);
  expect(backend.guard.highestTerm).toBe(7);
});

test("a monitor announcing a term older than coffee up's learns the newer one and fences itself", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  api = startControlApi(new Supervisor(dir, () => {}, () => {}, () => null), () => {});
  expect((await post("/term", { term: 9 })).status).toBe(200);
  const backend = new LocalRevivalBackend({ controlUrl: api.url });
  expect(await backend.announce(6)).toBe(false);
  expect(backend.guard.highestTerm).toBe(9);
  const err = await backend.revive("worker-1", 6).then(() => null, (e: unknown) => e);
  expect((err as RevivalError).code).toBe("REVIVAL_FENCED");
});

test("web pages cannot drive it: a foreign Host is 403, a POST that is not JSON is 415, and neither moves the term", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  api = startControlApi(new Supervisor(dir, () => {}, () => {}, () => null), () => {});
  // What a cross-site form or fetch without a preflight can send.
  const simple = await fetch(`${api.url}/term`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ term: 900_000 }) });
  expect(simple.status).toBe(415);
  // What a page reaching 127.0.0.1 through a rebound DNS name sends.
  const rebound = await fetch(`${api.url}/term`, { method: "POST", headers: { "content-type": "application/json", host: "evil.example" }, body: JSON.stringify({ term: 900_000 }) });
  expect(rebound.status).toBe(403);
  expect((await fetch(`${api.url}/processes`, { headers: { host: "evil.example:80" } })).status).toBe(403);
  expect(api.term).toBe(0);
  expect((await fetch(`${api.url}/processes`, { headers: { host: "localhost" } })).status).toBe(200);
});

test("a running process is left alone unless the leader asks to replace it: then it is SIGKILLed and started again", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  const supervisor = new Supervisor(dir, () => {}, () => {}, () => null);
  api = startControlApi(supervisor, () => {});
  // Stopped: alive, but it would answer nothing (what a hung process looks like from outside).
  supervisor.start({ name: "w", role: "worker", argv: ["sleep", "60"], env: {}, healthPort: 0 });
  const first = supervisor.list()[0]!.pid!;
  process.kill(first, "SIGSTOP");
  try {
    expect(await (await post("/processes/w/start", { term: 1 })).json()).toEqual({ started: false, pid: first });
    expect((await post("/processes/w/start", { term: 1, replace: "yes" })).status).toBe(400);
    expect((await post("/processes/w/start", { term: 1, replace: true, pid: "1" })).status).toBe(400);
    // A replace meant for another process (one that ran before this one) leaves this one alone.
    expect(await (await post("/processes/w/start", { term: 1, replace: true, pid: first + 100_000 })).json()).toEqual({ started: false, pid: first });
    expect(supervisor.list()[0]).toMatchObject({ pid: first, alive: true, restarts: 0 });
    const replaced = (await (await post("/processes/w/start", { term: 1, replace: true, pid: first })).json()) as { started: boolean; pid: number };
    expect(replaced.started).toBe(true);
    expect(replaced.pid).not.toBe(first);
    // The stopped one had exited (and was reaped) before its successor started: SIGKILL needs no cooperation.
    const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
    expect(alive(first)).toBe(false);
    expect(supervisor.list()[0]).toMatchObject({ pid: replaced.pid, alive: true, restarts: 1 });
  } finally {
    await supervisor.stopAll(100);
  }
});

test("coffee up's log names the monitor that asked for a start, and its term; a name that is not a plain one is left out, the start done all the same", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  const lines: string[] = [];
  const supervisor = new Supervisor(dir, (m) => lines.push(m), () => {}, () => null);
  api = startControlApi(supervisor, () => {});
  supervisor.start({ name: "w", role: "worker", argv: ["sleep", "60"], env: {}, healthPort: 0 });
  const first = supervisor.list()[0]!.pid!;
  try {
    expect((await post("/processes/w/start", { term: 2, replace: true, pid: first, by: "monitor-3" })).status).toBe(200);
    expect(lines).toContain(`killed w (pid ${first}) at the request of monitor-3 (term 2): running but not answering; starting it again once it has exited`);
    const next = supervisor.list()[0]!.pid!;
    expect((await post("/processes/w/start", { term: 2, replace: true, pid: next, by: "monitor west\u001b[2J" })).status).toBe(200);
    expect(lines).toContain(`killed w (pid ${next}) at the request of a monitor (term 2): running but not answering; starting it again once it has exited`);
    // The backend monitors use says who they are.
    const backend = new LocalRevivalBackend({ controlUrl: api.url, requester: "monitor-2" });
    const second = supervisor.list()[0]!.pid!;
    expect(await backend.revive("w", 2, { replace: true, pid: second })).toBe("started");
    expect(lines).toContain(`killed w (pid ${second}) at the request of monitor-2 (term 2): running but not answering; starting it again once it has exited`);
  } finally {
    await supervisor.stopAll(100);
  }
});

test("with a key, every request without it is 401, and nothing it asks happens; the monitors' backend sends it", async () => {
  dir = mkdtempSync(join(tmpdir(), "coffee-ctl-"));
  const supervisor = new Supervisor(dir, () => {}, () => {}, () => null);
  api = startControlApi(supervisor, () => {}, () => true, "k3y");
  supervisor.start({ name: "w", role: "worker", argv: ["sleep", "60"], env: {}, healthPort: 0 });
  const pid = supervisor.list()[0]!.pid!;
  try {
    for (const authorization of [undefined, "Bearer wrong", "k3y", "Bearer k3y2", "bearer k3y"]) {
      const headers: Record<string, string> = { "content-type": "application/json", ...(authorization ? { authorization } : {}) };
      expect((await fetch(`${api.url}/term`, { method: "POST", headers, body: JSON.stringify({ term: 900_000 }) })).status).toBe(401);
      expect((await fetch(`${api.url}/processes/w/start`, { method: "POST", headers, body: JSON.stringify({ term: 1, replace: true }) })).status).toBe(401);
      expect((await fetch(`${api.url}/processes`, { headers })).status).toBe(401);
    }
    expect(api.term).toBe(0);
    expect(supervisor.list()[0]!.pid).toBe(pid);
    const backend = new LocalRevivalBackend({ controlUrl: api.url, key: "k3y" });
    expect(await backend.announce(3)).toBe(true);
    expect(await backend.currentTerm()).toBe(3);
    expect(await backend.revive("w", 3)).toBe("running");
    // Without the key the backend's requests are refused, and it says so.
    expect(new LocalRevivalBackend({ controlUrl: api.url }).revive("w", 3)).rejects.toThrow("401");
  } finally {
    await supervisor.stopAll(100);
  }
});
