import { expect, test } from "bun:test";
import { Reconnect, SLOT_POLL_CAP_MS, type ReconnectOptions } from "./clientReconnect.ts";
import { CoffeeError } from "./errors.ts";

/** A connection that knows whether it was closed. */
class FakeConnection {
  closed = false;
  constructor(readonly id: number) {}
  close(): void {
    this.closed = true;
  }
}

/**
 * A Reconnect on a hand-driven clock: sleeps move the clock at once; `opens` are the clock's
 * readings at each attempt, `log` what the run heard. Attempts succeed unless `refuse` holds an
 * error for them. Backoff is 300 ms per attempt, capped at the cap it is given.
 */
function harness(overrides: Partial<ReconnectOptions<FakeConnection>> = {}) {
  const h = {
    t: 0,
    session: null as string | null,
    refuse: null as Error | null,
    opens: [] as number[],
    sleeps: [] as number[],
    caps: [] as number[],
    log: [] as string[],
    failures: [] as CoffeeError[],
    conns: [] as FakeConnection[],
  };
  const reconnect = new Reconnect<FakeConnection>({
    host: "gateway", port: 9000, connectRetryMs: 1000, reconnectTimeoutMs: 5000,
    session: () => h.session,
    open: async () => {
      h.opens.push(h.t);
      if (h.refuse) throw h.refuse;
      const c = new FakeConnection(h.conns.length);
      h.conns.push(c);
      return c;
    },
    opened: (c) => void h.log.push(`opened ${c.id}`),
    connecting: (reason, deadlineMs) => void h.log.push(`connecting (${reason}) until ${deadlineMs}`),
    failed: (err) => void h.failures.push(err),
    clock: { now: () => h.t, sleep: async (ms) => void (h.sleeps.push(ms), (h.t += ms)) },
    backoffMs: (_attempt, maxMs) => (h.caps.push(maxMs), 300),
    ...overrides,
  });
  return { h, reconnect };
}

test("the run's first attempt does not wait; every later one backs off, capped at 2 s before a welcome and 5 s after", async () => {
  const { h, reconnect } = harness();
  await reconnect.connectAgain(null, true);
  expect(h.sleeps).toEqual([]);
  expect(h.log).toEqual(["connecting (connection closed) until 1000", "opened 0"]);
  // Closed before a welcome: hello again, after a wait.
  await reconnect.connectAgain(new Error("reset"));
  expect(h.sleeps).toEqual([300]);
  h.session = "s1";
  reconnect.welcomed();
  // The first attempt after a drop waits too.
  await reconnect.connectAgain(new Error("reset"));
  expect(h.sleeps).toEqual([300, 300]);
  expect(h.caps).toEqual([2000, 5000]);
  expect(h.opens).toEqual([0, 300, 600]);
});

test("one budget spans drops and only a welcome resets it", async () => {
  const { h, reconnect } = harness();
  h.session = "s1";
  // Accepted and closed at once, again and again: the deadline stays where the first drop put it.
  for (let i = 0; i < 100 && h.failures.length === 0; i++) await reconnect.connectAgain(new Error(`closed ${i}`));
  expect(new Set(h.log.filter((l) => l.startsWith("connecting")).map((l) => l.replace(/\(.*\)/, "")))).toEqual(new Set(["connecting  until 5000"]));
  // The last attempt at the deadline, not a backoff past it.
  expect(h.opens).toEqual([...Array.from({ length: 16 }, (_, i) => 300 * (i + 1)), 5000]);
  expect(h.failures.map((e) => [e.code, e.message])).toEqual([["CONNECTION_LOST", "lost the gateway and could not resume session s1 within 5 s: closed 17"]]);

  // A welcome: the next drop has a budget of its own, from then.
  const fresh = harness();
  fresh.h.session = "s1";
  await fresh.reconnect.connectAgain(new Error("reset"));
  fresh.h.t = 4900;
  fresh.reconnect.welcomed();
  await fresh.reconnect.connectAgain(new Error("reset"));
  fresh.h.t = 9000;
  await fresh.reconnect.connectAgain(new Error("closed"));
  expect(fresh.h.log.filter((l) => l.startsWith("connecting"))).toEqual(["connecting (reset) until 5000", "connecting (reset) until 9900", "connecting (closed) until 9900"]);
  expect(fresh.h.opens).toEqual([300, 5200, 9300]);
  expect(fresh.h.failures).toEqual([]);
});

test("the deadline is checked before each attempt, connects that succeed and are closed before a welcome included", async () => {
  const { h, reconnect } = harness();
  await reconnect.connectAgain(null, true);
  for (let i = 0; i < 100 && h.failures.length === 0; i++) await reconnect.connectAgain(new Error("closed before a welcome"));
  // Checked at 900 (not yet), tried once more at 1200, then given up on without another attempt.
  expect(h.opens).toEqual([0, 300, 600, 900, 1000]);
  expect(h.failures[0]!.code).toBe("CONNECTION_LOST");
  expect(h.failures[0]!.message).toBe("could not reach the gateway at gateway:9000 and be welcomed within 1 s: closed before a welcome");
});

test("--connect-retry-s 0 is one attempt", async () => {
  const { h, reconnect } = harness({ connectRetryMs: 0 });
  h.refuse = new Error("refused");
  await reconnect.connectAgain(null, true);
  expect(h.opens).toEqual([0]);
  expect(h.sleeps).toEqual([]);
  expect(h.failures.map((e) => [e.code, e.message])).toEqual([["CONNECTION_LOST", "could not reach the gateway at gateway:9000 and be welcomed within 0 s: refused"]]);
});

test("failed attempts are tried again until the deadline; the give-up says what the last one met", async () => {
  let n = 0;
  const { h, reconnect } = harness({
    open: async () => {
      h.opens.push(h.t);
      throw new Error(`refused ${n++}`);
    },
  });
  await reconnect.connectAgain(null, true);
  expect(h.opens).toEqual([0, 300, 600, 900, 1000]);
  expect(h.log).toEqual(["connecting (connection closed) until 1000"]);
  expect(h.failures.map((e) => [e.code, e.message])).toEqual([["CONNECTION_LOST", "could not reach the gateway at gateway:9000 and be welcomed within 1 s: refused 4"]]);
});

test("before a welcome, a coded error the last attempt met is the run's; in a session it is CONNECTION_LOST, naming the session", async () => {
  const unreachable = new CoffeeError("GATEWAY_UNREACHABLE", "cannot reach the gateway at gateway:9000: refused");
  const before = harness({ connectRetryMs: 0 });
  before.h.refuse = unreachable;
  await before.reconnect.connectAgain(null, true);
  expect(before.h.failures).toEqual([unreachable]);

  // A coded cause (silence) with nothing met after it.
  const idle = harness();
  const silent = new CoffeeError("SESSION_IDLE", "no word from the gateway for 60 s (no welcome)");
  await idle.reconnect.connectAgain(null, true);
  idle.h.t = 1000;
  await idle.reconnect.connectAgain(silent);
  expect(idle.h.failures).toEqual([silent]);

  const during = harness();
  during.h.session = "s7";
  during.h.refuse = unreachable;
  await during.reconnect.connectAgain(new Error("connection reset"));
  expect(during.h.failures.map((e) => [e.code, e.message])).toEqual([
    ["CONNECTION_LOST", "lost the gateway and could not resume session s7 within 5 s: cannot reach the gateway at gateway:9000: refused"],
  ]);
  expect(during.h.caps.every((cap) => cap === 5000)).toBe(true);
});

test("waiting for a free slot keeps the budget before a welcome open until the wait's deadline, with at most SLOT_POLL_CAP_MS between asks; the give-up is the refusal", async () => {
  const { h, reconnect } = harness();
  await reconnect.connectAgain(null, true);
  // The gateway is full: the client waits until 20 000, far past --connect-retry-s (1000).
  const full = new CoffeeError("SESSION_LIMIT", "server full: 1 of 1 sessions in use");
  reconnect.waitUntil(20_000);
  while (h.failures.length === 0) await reconnect.connectAgain(full);
  expect(h.caps.every((cap) => cap === SLOT_POLL_CAP_MS)).toBe(true);
  // Asked again at every backoff until the deadline, then given up with the gateway's own words.
  expect(h.opens).toEqual([...Array.from({ length: 67 }, (_, i) => i * 300), 20_000]);
  expect(h.failures).toEqual([full]);

  // A welcome ends the wait: the next drop before a session has the plain budget again.
  const welcomed = harness();
  await welcomed.reconnect.connectAgain(null, true);
  welcomed.reconnect.waitUntil(20_000);
  await welcomed.reconnect.connectAgain(full);
  welcomed.reconnect.welcomed();
  welcomed.h.t = 30_000;
  await welcomed.reconnect.connectAgain(new Error("reset"));
  expect(welcomed.h.log.at(-2)).toBe("connecting (reset) until 31000");
  expect(welcomed.h.caps.at(-1)).toBe(2000);
});

test("a gateway that cannot be reached for --connect-retry-s in a row ends a slot wait early: it is gone, not full", async () => {
  const { h, reconnect } = harness();
  await reconnect.connectAgain(null, true);
  reconnect.waitUntil(60_000);
  const unreachable = new CoffeeError("GATEWAY_UNREACHABLE", "cannot reach the gateway at gateway:9000: refused");
  // Refused, then unreachable: the wait's 60 s do not matter, --connect-retry-s (1 s) does.
  await reconnect.connectAgain(new CoffeeError("SESSION_LIMIT", "server full"));
  h.refuse = unreachable;
  await reconnect.connectAgain(new Error("closed"));
  expect(h.failures).toEqual([unreachable]);
  expect(h.t).toBeLessThan(3000);

  // Reached again in between (and refused a session again, as a full gateway does): each
  // connect starts the streak over, so two failures in a row (600 ms) never end the wait.
  let attempts = 0;
  const again = harness({
    open: async () => {
      if (++attempts % 3 !== 0) throw unreachable;
      return new FakeConnection(attempts);
    },
  });
  await again.reconnect.connectAgain(null, true).catch(() => {});
  again.reconnect.waitUntil(20_000);
  while (again.h.t < 20_000 && again.h.failures.length === 0) await again.reconnect.connectAgain(new Error("closed"));
  expect(again.h.failures.map((e) => e.code)).toEqual(["GATEWAY_UNREACHABLE"]);
  // Given up only at the wait's end, not after --connect-retry-s.
  expect(again.h.t).toBeGreaterThanOrEqual(20_000);
});

test("after the run's end no attempt is made, and a connection that opens late is closed, not used", async () => {
  const stopped = harness();
  stopped.reconnect.stop();
  await stopped.reconnect.connectAgain(null, true);
  expect(stopped.h.opens).toEqual([]);

  const late = harness({
    open: async () => {
      late.reconnect.stop();
      const c = new FakeConnection(0);
      late.h.conns.push(c);
      return c;
    },
  });
  await late.reconnect.connectAgain(null, true);
  expect(late.h.conns[0]!.closed).toBe(true);
  expect(late.h.log).toEqual(["connecting (connection closed) until 1000"]);
  expect(late.h.failures).toEqual([]);
});

test("a connect is under way from its call until it opened or gave up", async () => {
  const { promise: opening, resolve: open } = Promise.withResolvers<FakeConnection>();
  const { reconnect } = harness({ open: () => opening });
  expect(reconnect.underWay).toBe(false);
  const connect = reconnect.connectAgain(null, true);
  expect(reconnect.underWay).toBe(true);
  open(new FakeConnection(0));
  await connect;
  expect(reconnect.underWay).toBe(false);
});
