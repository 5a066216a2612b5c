import { afterEach, describe, expect, test } from "bun:test";
import { DockerRevivalBackend, type DockerRevivalOptions } from "./dockerRevival.ts";
import { ConfigError } from "./errors.ts";
import { RevivalError, RevivalGuard, RevivalPolicy, type RevivalEvent } from "./revival.ts";
import { startFakeDocker, type FakeContainer, type FakeDocker } from "../test/fakeDocker.ts";

const W1 = "1111111111111111111111111111111111111111111111111111111111111111";
const W2 = "2222222222222222222222222222222222222222222222222222222222222222";
const GW = "3333333333333333333333333333333333333333333333333333333333333333";
const OTHER = "4444444444444444444444444444444444444444444444444444444444444444";

function composeContainer(id: string, service: string, project: string, state = "exited"): FakeContainer {
  return {
    Id: id,
    Names: [`/${project}-${service}-1`],
    Labels: { "com.docker.compose.service": service, "com.docker.compose.project": project, "com.docker.compose.oneoff": "False" },
    State: state,
  };
}

const LIST = "GET /containers/json?all=true&filters=";
const labelQuery = (...labels: string[]): string => `${LIST}${JSON.stringify({ label: labels })}`;
const nameQuery = (name: string): string => `${LIST}${JSON.stringify({ name: [`^/${name}$`] })}`;
const startCall = (id: string): string => `POST /containers/${id}/start`;

const fakes: FakeDocker[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.stop();
});

function fake(containers: FakeContainer[]): FakeDocker {
  const f = startFakeDocker({ containers });
  fakes.push(f);
  return f;
}

/** A backend on `f` with a manual clock and recorded events. */
function backend(f: FakeDocker, opts: Partial<DockerRevivalOptions> = {}) {
  const events: RevivalEvent[] = [];
  const clock = { t: 1_000 };
  const b = new DockerRevivalBackend({
    socketPath: f.socketPath,
    policy: new RevivalPolicy({ initialMs: 100, maxMs: 1_000, maxAttempts: 5, resetAfterMs: 60_000 }),
    onEvent: (e) => events.push(e),
    now: () => clock.t,
    ...opts,
  });
  return { b, events, clock };
}

async function rejection(p: Promise<unknown>): Promise<RevivalError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RevivalError) return err;
    throw new Error(`expected a RevivalError, got ${String(err)}`);
  }
  throw new Error("expected a rejection");
}

describe("DockerRevivalBackend against a fake Engine API", () => {
  test("finds the container by compose service+project labels and starts that id", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee"), composeContainer(OTHER, "worker-1", "other"), composeContainer(W2, "worker-2", "coffee")]);
    const { b, events } = backend(f, { project: "coffee" });
    await b.revive("worker-1", 1);
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-1", "com.docker.compose.project=coffee"), startCall(W1)]);
    expect(f.requests.map((r) => r.status)).toEqual([200, 204]);
    expect(f.requests[1]!.body).toBe("");
    expect(f.requests[0]!.query).toEqual({ all: "true", filters: '{"label":["com.docker.compose.service=worker-1","com.docker.compose.project=coffee"]}' });
    expect(f.containers.map((c) => c.State)).toEqual(["running", "exited", "exited"]);
    expect(events).toEqual([
      { type: "reviving", name: "worker-1", attempt: 1, term: 1 },
      { type: "revived", name: "worker-1", attempt: 1 },
    ]);
  });

  test("without a project only the service label is used; several matches are ambiguous, not guessed", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee"), composeContainer(OTHER, "worker-1", "other")]);
    const { b } = backend(f);
    const err = await rejection(b.revive("worker-1", 1));
    expect(err.code).toBe("REVIVAL_FAILED");
    expect(err.message).toContain("ambiguous: 2 Docker containers labelled com.docker.compose.service=worker-1");
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-1")]);
  });

  test("one-off `compose run` containers are ignored", async () => {
    const oneoff = composeContainer(OTHER, "worker-1", "coffee");
    oneoff.Labels["com.docker.compose.oneoff"] = "True";
    const f = fake([oneoff, composeContainer(W1, "worker-1", "coffee")]);
    const { b } = backend(f, { project: "coffee" });
    await b.revive("worker-1", 1);
    expect(f.calls()[1]).toBe(startCall(W1));
  });

  test("falls back to the exact container name when no compose label matches", async () => {
    const f = fake([
      { Id: GW, Names: ["/gateway"], Labels: {}, State: "exited" },
      // an unanchored name filter would also match these
      { Id: OTHER, Names: ["/gateway-old"], Labels: {}, State: "exited" },
      { Id: W2, Names: ["/coffee-gateway-1"], Labels: { "com.docker.compose.service": "gw", "com.docker.compose.project": "coffee" }, State: "exited" },
    ]);
    const { b, events } = backend(f, { project: "coffee" });
    await b.revive("gateway", 3);
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=gateway", "com.docker.compose.project=coffee"), nameQuery("gateway"), startCall(GW)]);
    expect(f.requests.map((r) => r.status)).toEqual([200, 200, 204]);
    expect(f.containers.map((c) => c.State)).toEqual(["running", "exited", "exited"]);
    expect(events.map((e) => e.type)).toEqual(["reviving", "revived"]);
  });

  test("findContainer reports how the container was found", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee", "running"), { Id: GW, Names: ["/gateway"], Labels: {}, State: "exited" }]);
    const { b } = backend(f);
    expect(await b.findContainer("worker-1")).toEqual({ id: W1, names: ["/coffee-worker-1-1"], state: "running", matchedBy: "compose-label" });
    expect(await b.findContainer("gateway")).toEqual({ id: GW, names: ["/gateway"], state: "exited", matchedBy: "name" });
    const missing = await b.findContainer("agg-q9").catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(RevivalError);
    expect(missing).toMatchObject({ code: "REVIVAL_FAILED", node: "agg-q9" });
  });

  test("304 (already running) is 'running': not a revival, and no attempt of the budget", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee", "running")]);
    const lines: string[] = [];
    const { b, events } = backend(f, { log: (m) => lines.push(m) });
    expect(await b.revive("worker-1", 1)).toBe("running");
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-1"), startCall(W1)]);
    expect(f.requests.map((r) => r.status)).toEqual([200, 304]);
    expect(events.map((e) => e.type)).toEqual(["reviving", "running"]);
    expect(b.guard.policy.attempts("worker-1", performance.now())).toBe(0);
    expect(lines).toEqual(["container 111111111111 (/coffee-worker-1-1) for worker-1 was already running"]);
  });

  test("asked to replace, a running container is restarted at once, a paused one unpaused first", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee", "running"), composeContainer(W2, "worker-2", "coffee", "paused")]);
    const { b, events } = backend(f);
    expect(await b.revive("worker-1", 1, { replace: true })).toBe("started");
    expect(await b.revive("worker-2", 1, { replace: true })).toBe("started");
    expect(f.calls()).toEqual([
      labelQuery("com.docker.compose.service=worker-1"), `POST /containers/${W1}/restart?t=0`,
      labelQuery("com.docker.compose.service=worker-2"), `POST /containers/${W2}/unpause`, `POST /containers/${W2}/restart?t=0`,
    ]);
    expect(f.containers.map((c) => c.State)).toEqual(["running", "running"]);
    expect(events.filter((e) => e.type === "revived")).toHaveLength(2);
    // An exited container is started as usual, replace or not.
    f.containers.push({ ...composeContainer(OTHER, "worker-3", "coffee"), State: "exited" });
    expect(await b.revive("worker-3", 1, { replace: true })).toBe("started");
    expect(f.calls().at(-1)).toBe(startCall(OTHER));
  });

  test("unknown service: REVIVAL_FAILED with a clear message, no start request", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    const { b, events } = backend(f, { project: "coffee" });
    const err = await rejection(b.revive("worker-9", 1));
    expect(err.code).toBe("REVIVAL_FAILED");
    expect(err.node).toBe("worker-9");
    expect(err.message).toBe(
      "could not revive worker-9 (attempt 1): no Docker container for worker-9: none labelled com.docker.compose.service=worker-9 in compose project coffee and none named worker-9",
    );
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-9", "com.docker.compose.project=coffee"), nameQuery("worker-9")]);
    expect(events).toEqual([
      { type: "reviving", name: "worker-9", attempt: 1, term: 1 },
      { type: "failed", name: "worker-9", attempt: 1, error: expect.stringContaining("no Docker container for worker-9") as unknown as string, retryInMs: 100 },
    ]);
  });

  test("a start failing twice with 500 is retried after the backoff and then succeeds", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    f.failStarts({ times: 2, status: 500, message: "driver failed programming external connectivity" });
    const { b, events, clock } = backend(f);

    const first = await rejection(b.revive("worker-1", 2));
    expect(first.code).toBe("REVIVAL_FAILED");
    expect(first.message).toContain("HTTP 500: driver failed programming external connectivity");
    expect(first.retryInMs).toBe(100);

    // called again too early: refused without touching Docker
    const early = await rejection(b.revive("worker-1", 2));
    expect(early.code).toBe("REVIVAL_BACKOFF");
    expect(early.retryInMs).toBe(100);
    expect(f.requests).toHaveLength(2);

    clock.t += 100;
    expect((await rejection(b.revive("worker-1", 2))).retryInMs).toBe(200);
    clock.t += 150;
    expect((await rejection(b.revive("worker-1", 2))).code).toBe("REVIVAL_BACKOFF");
    clock.t += 50;
    await b.revive("worker-1", 2);

    const pair = [labelQuery("com.docker.compose.service=worker-1"), startCall(W1)];
    expect(f.calls()).toEqual([...pair, ...pair, ...pair]);
    expect(f.requests.map((r) => r.status)).toEqual([200, 500, 200, 500, 200, 204]);
    expect(events.map((e) => (e.type === "failed" ? `failed#${e.attempt}+${e.retryInMs}` : `${e.type}#${"attempt" in e ? e.attempt : ""}`))).toEqual([
      "reviving#1",
      "failed#1+100",
      "reviving#2",
      "failed#2+200",
      "reviving#3",
      "revived#3",
    ]);
  });

  test("fencing: after term 5, a term-4 revive is REVIVAL_FENCED and makes no request", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee"), composeContainer(W2, "worker-2", "coffee")]);
    const { b, events } = backend(f);
    await b.revive("worker-1", 5);
    const before = f.calls();
    const err = await rejection(b.revive("worker-2", 4));
    expect(err.code).toBe("REVIVAL_FENCED");
    expect(err.message).toBe("refused to revive worker-2 for term 4: term 5 has been seen (stale leader)");
    expect(f.calls()).toEqual(before);
    expect(f.requests.some((r) => r.path.endsWith(`/${W2}/start`))).toBe(false);
    expect(events.at(-1)).toEqual({ type: "fenced", name: "worker-2", term: 4, currentTerm: 5 });
    expect(b.highestTerm).toBe(5);

    // the same term may act again; a newer term learnt without reviving fences term 5 too
    await b.revive("worker-2", 5);
    expect(b.observeTerm(7)).toBe(true);
    expect((await rejection(b.revive("worker-1", 6))).code).toBe("REVIVAL_FENCED");
    expect(b.observeTerm(6)).toBe(false);
  });

  test("a node that keeps failing hits its budget, is reported once and then refused without requests", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    f.failStarts({ times: 100 });
    const { b, events, clock } = backend(f, { policy: new RevivalPolicy({ initialMs: 10, maxMs: 10, maxAttempts: 3, resetAfterMs: 1_000 }) });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push((await rejection(b.revive("worker-1", 1))).code);
      clock.t += 10;
    }
    expect(codes).toEqual(["REVIVAL_FAILED", "REVIVAL_FAILED", "REVIVAL_FAILED", "REVIVAL_BUDGET_EXHAUSTED", "REVIVAL_BUDGET_EXHAUSTED"]);
    expect(f.requests).toHaveLength(6);
    expect(events.filter((e) => e.type === "failed").map((e) => (e.type === "failed" ? e.retryInMs : 0))).toEqual([10, 10, -1]);
    expect(events.filter((e) => e.type === "gave-up")).toEqual([{ type: "gave-up", name: "worker-1", attempts: 3 }]);
  });

  test("a budget spent while Docker refused comes back resetAfterMs later, and the node is revived", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    f.failStarts({ times: 3 });
    const { b, events, clock } = backend(f, { policy: new RevivalPolicy({ initialMs: 10, maxMs: 10, maxAttempts: 3, resetAfterMs: 1_000 }) });
    for (let i = 0; i < 3; i++) {
      await rejection(b.revive("worker-1", 1));
      clock.t += 10;
    }
    expect((await rejection(b.revive("worker-1", 1))).code).toBe("REVIVAL_BUDGET_EXHAUSTED");
    clock.t += 1_000;
    await b.revive("worker-1", 1);
    expect(events.map((e) => e.type)).toEqual(["reviving", "failed", "reviving", "failed", "reviving", "failed", "gave-up", "reviving", "revived"]);
  });

  test("concurrent revives of one node share a single attempt", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    f.setStartDelay(50);
    const { b, events } = backend(f);
    await Promise.all([b.revive("worker-1", 1), b.revive("worker-1", 1), b.revive("worker-1", 2)]);
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-1"), startCall(W1)]);
    expect(events.map((e) => e.type)).toEqual(["reviving", "revived"]);
  });

  test("an API version prefix is sent when configured", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    const { b } = backend(f, { apiVersion: "v1.43" });
    await b.revive("worker-1", 1);
    expect(f.calls()).toEqual([labelQuery("com.docker.compose.service=worker-1").replace("GET /", "GET /v1.43/"), `POST /v1.43/containers/${W1}/start`]);
    expect(f.requests.map((r) => r.apiVersion)).toEqual(["v1.43", "v1.43"]);
  });

  test("a start that does not answer in time fails the attempt", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee")]);
    f.setStartDelay(500);
    const { b } = backend(f, { timeoutMs: 100 });
    const t0 = performance.now();
    const err = await rejection(b.revive("worker-1", 1));
    expect(performance.now() - t0).toBeLessThan(450);
    expect(err.code).toBe("REVIVAL_FAILED");
    expect(err.message).toContain("Docker did not answer within 100 ms");
  });

  test("Docker unreachable: REVIVAL_FAILED naming the socket", async () => {
    const b = new DockerRevivalBackend({ socketPath: "/nonexistent/docker.sock" });
    const err = await rejection(b.revive("worker-1", 1));
    expect(err.code).toBe("REVIVAL_FAILED");
    expect(err.message).toContain("cannot reach Docker at /nonexistent/docker.sock");
  });
});

describe("fake Engine API semantics", () => {
  test("without all=true only running containers are listed; unknown filters are rejected", async () => {
    const f = fake([composeContainer(W1, "worker-1", "coffee", "running"), composeContainer(W2, "worker-2", "coffee")]);
    const get = (q: string) => fetch(`http://localhost/containers/json${q}`, { unix: f.socketPath });
    const ids = async (q: string) => ((await (await get(q)).json()) as { Id: string }[]).map((c) => c.Id);
    expect(await ids("")).toEqual([W1]);
    expect(await ids("?all=1")).toEqual([W1, W2]);
    expect(await ids(`?all=1&filters=${encodeURIComponent('{"label":{"com.docker.compose.service=worker-2":true}}')}`)).toEqual([W2]);
    expect((await get(`?filters=${encodeURIComponent('{"status":["exited"]}')}`)).status).toBe(400);
    expect((await fetch(`http://localhost/containers/nope/start`, { unix: f.socketPath, method: "POST" })).status).toBe(404);
    expect(await (await fetch(`http://localhost/_ping`, { unix: f.socketPath })).text()).toBe("OK");
  });
});

describe("RevivalPolicy", () => {
  const policy = (o: Partial<ConstructorParameters<typeof RevivalPolicy>[0]> = {}) =>
    new RevivalPolicy({ initialMs: 100, maxMs: 1_000, maxAttempts: 10, resetAfterMs: 60_000, ...o });

  test("delays double from initialMs up to the cap", () => {
    const p = policy();
    let now = 0;
    expect(p.nextDelay("w", now)).toBe(0);
    expect(p.due("w", now)).toBe(true);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const d = p.recordFailure("w", now);
      delays.push(d);
      expect(p.nextDelay("w", now)).toBe(d);
      expect(p.due("w", now + d - 1)).toBe(false);
      now += d;
      expect(p.nextDelay("w", now)).toBe(0);
      expect(p.due("w", now)).toBe(true);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(p.nextDelay("w", now - 400)).toBe(400);
    expect(p.delayAfter(10_000)).toBe(1_000);
  });

  test("spent lists the nodes given up on, with their attempts and last attempt, until each budget resets", () => {
    const p = policy({ maxAttempts: 2, initialMs: 10, maxMs: 10, resetAfterMs: 1_000 });
    p.recordFailure("a", 0);
    p.recordFailure("a", 10);
    p.recordFailure("b", 5);
    expect(p.spent(20)).toEqual([{ name: "a", attempts: 2, lastAttemptAt: 10 }]);
    // Reset resetAfterMs past the backoff that followed the last failure: nothing spent any more.
    expect(p.spent(10 + 10 + 1_000)).toEqual([]);
  });

  test("the budget is spent after maxAttempts, successful starts included", () => {
    const p = policy({ maxAttempts: 3 });
    p.recordSuccess("w", 0); // revived, died again at once
    expect(p.recordFailure("w", 100)).toBe(200);
    expect(p.exhausted("w", 300)).toBe(false);
    expect(p.recordFailure("w", 300)).toBe(-1);
    expect(p.attempts("w", 300)).toBe(3);
    expect(p.exhausted("w", 300)).toBe(true);
    // given up for resetAfterMs past the backoff (400 ms after a third attempt), not for good:
    // whatever refused may be back
    const back = 300 + 400 + 60_000;
    expect(p.due("w", back - 1)).toBe(false);
    expect(p.exhausted("w", back)).toBe(false);
    expect(p.due("w", back)).toBe(true);
    expect(p.recordFailure("w", back)).toBe(100);
    // reset() (an operator's decision) gives the budget back at once
    expect(p.recordFailure("w", back + 100)).toBe(200);
    p.reset("w");
    expect(p.attempts("w", back + 100)).toBe(0);
    expect(p.due("w", back + 100)).toBe(true);
  });

  test("a backoff longer than resetAfterMs is served in full, and its attempts count toward the budget", () => {
    const p = policy({ initialMs: 100_000, maxMs: 100_000, maxAttempts: 2, resetAfterMs: 60_000 });
    expect(p.recordFailure("w", 0)).toBe(100_000);
    expect(p.due("w", 60_000)).toBe(false);
    expect(p.due("w", 100_000)).toBe(true);
    expect(p.recordFailure("w", 100_000)).toBe(-1);
    expect(p.exhausted("w", 160_000)).toBe(true);
  });

  test("nodes are independent", () => {
    const p = policy({ maxAttempts: 1 });
    p.recordFailure("a", 0);
    expect(p.exhausted("a", 0)).toBe(true);
    expect(p.exhausted("b", 0)).toBe(false);
    expect(p.due("b", 0)).toBe(true);
  });

  test("a node that stayed up for resetAfterMs after its last start gets its budget and backoff back", () => {
    const p = policy({ maxAttempts: 4, resetAfterMs: 10_000 });
    p.recordFailure("w", 0);
    p.recordFailure("w", 100);
    p.recordFailure("w", 300);
    p.recordSuccess("w", 700);
    expect(p.exhausted("w", 700)).toBe(true);
    expect(p.attempts("w", 10_699)).toBe(4);
    expect(p.exhausted("w", 10_699)).toBe(true);
    expect(p.attempts("w", 10_700)).toBe(0);
    expect(p.exhausted("w", 10_700)).toBe(false);
    expect(p.nextDelay("w", 10_700)).toBe(0);
    // after the reset the backoff starts from initialMs again
    expect(p.recordFailure("w", 10_700)).toBe(100);
  });

  test("a crash loop (start ok, dies within resetAfterMs) does not reset the budget", () => {
    const p = policy({ maxAttempts: 3, resetAfterMs: 10_000 });
    let now = 0;
    for (let i = 0; i < 3; i++) {
      expect(p.due("w", now)).toBe(true);
      p.recordSuccess("w", now);
      now += 5_000;
    }
    expect(p.exhausted("w", now)).toBe(true);
  });

  test("rejects unusable options with ConfigError", () => {
    expect(() => policy({ initialMs: -1 })).toThrow(ConfigError);
    expect(() => policy({ maxMs: 50 })).toThrow(ConfigError);
    expect(() => policy({ maxAttempts: 0 })).toThrow(ConfigError);
    expect(() => policy({ maxAttempts: 1.5 })).toThrow(ConfigError);
    expect(() => policy({ resetAfterMs: Number.NaN })).toThrow(ConfigError);
  });
});

describe("RevivalGuard", () => {
  test("a throwing event sink does not turn a success into a failure", async () => {
    const guard = new RevivalGuard({
      onEvent: () => {
        throw new Error("logger broke");
      },
    });
    await guard.run("w", 1, async () => "started" as const);
    expect(guard.policy.attempts("w", performance.now())).toBe(1);
  });

  test("a negative or fractional term is refused", async () => {
    const guard = new RevivalGuard();
    let started = false;
    const err = await rejection(guard.run("w", 1.5, async () => {
      started = true;
      return "started" as const;
    }));
    expect(err.code).toBe("REVIVAL_FAILED");
    expect(started).toBe(false);
  });
});
