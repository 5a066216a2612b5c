/**
 * Protocol limits and access at the gateway (real roles in-process, real TCP): each limit ends
 * only the offending connection, with an error that names it; the token gates sessions.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { createGateway, defaultGatewayConfig, type GatewayConfig, type GatewayInstance, type GatewayRuntime } from "../roles/gateway.ts";
import { HANDSHAKE_FRAME_BYTES } from "../src/gatewayClients.ts";
import { CoffeeError } from "../src/errors.ts";
import { FrameDecoder } from "../src/frame.ts";
import { GatewayStore } from "../src/gatewayStore.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import type { Logger } from "../src/log.ts";
import { startInProcessCluster, type InProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { decodeGatewayMessage, PROTOCOL_VERSION, type GatewayMessage } from "../src/protocol.ts";
import { computeReference } from "../src/reference.ts";
import { ENTITIES, QUERIES } from "../src/schema.ts";
import { allQueues, RESULTS_KEY } from "../src/topology.ts";
import { packColumn } from "../src/textColumn.ts";
import { encodeMessage } from "../src/codec.ts";
import { readResults, tempDir } from "./harness.ts";
import type { Transport } from "../src/transport.ts";
import { emptyUpload, frame, heldHeartbeats, openRaw, raw } from "./rawGateway.ts";

setDefaultTimeout(60_000);

describe("gateway limits and access", () => {
  let cluster: InProcessCluster;
  let data: string;
  let expected: Record<string, string>;
  const dirs: string[] = [];

  beforeAll(async () => {
    data = tempDir("lim");
    dirs.push(data);
    await generateDataset({ out: data, seed: 21, months: parseMonthRange("2024-02..2024-02"), transactionsPerMonth: 400, users: 100, stores: 10, menuItems: 8 });
    expected = (await computeReference(data)).queries;
    const broker = new MemoryBroker();
    cluster = await startInProcessCluster(
      defaultGatewayConfig({ host: "127.0.0.1", port: 0, handshakeTimeoutMs: 200, idleTimeoutMs: 400, maxBatchRows: 100, maxFieldBytes: 200, maxFrameBytes: 1 << 20, token: "s3cret" }),
      new Map(), () => new MemoryTransport(broker, "lim"), true);
  });

  afterAll(async () => {
    await cluster?.shutdown();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const client = (overrides: Record<string, unknown>) => {
    const out = tempDir("limout");
    dirs.push(out);
    return runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, batchRows: 50, token: "s3cret", ...overrides }));
  };
  const failure = async (p: Promise<unknown>): Promise<CoffeeError> => {
    try {
      await p;
    } catch (err) {
      return err as CoffeeError;
    }
    throw new Error("expected the client to fail");
  };

  test("with the right token a session completes exactly", async () => {
    const r = await client({});
    expect(readResults(r.dir)).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
  });

  test("a missing or wrong token is AUTH_FAILED", async () => {
    expect((await failure(client({ token: null }))).code).toBe("AUTH_FAILED");
    expect((await failure(client({ token: "guess" }))).code).toBe("AUTH_FAILED");
  });

  test("a client's --batch-rows over --max-batch-rows is lowered to what the welcome names; a batch over it is LIMIT_EXCEEDED", async () => {
    const lowered = await client({ batchRows: 500 });
    expect(readResults(lowered.dir)).toEqual(expected);
    // A client that does not read the welcome's limit (an older build) is told which options matter.
    const rows = 101;
    const over = await raw(cluster.gatewayPort(), [frame({ t: "hello", v: PROTOCOL_VERSION, token: "s3cret" })], (m) => m.t === "welcome"
      ? [frame({ t: "batch", entity: "stores", seq: 0, lines: Uint32Array.from({ length: rows }, (_, i) => i + 2), columns: [packColumn(Array.from({ length: rows }, (_, i) => String(i + 1))), packColumn(Array(rows).fill("x"))] })]
      : []);
    expect(over[0]).toMatchObject({ t: "welcome", maxBatchRows: 100 });
    expect(over.at(-1)).toMatchObject({ t: "error", code: "LIMIT_EXCEEDED" });
    const message = (over.at(-1) as { message: string }).message;
    expect(message).toContain("--max-batch-rows");
    // What the user of the client can change.
    expect(message).toContain("lower the client's --batch-rows");
  });

  test("a row with a field over --max-field-bytes is rejected and reported; the session completes", async () => {
    const odd = tempDir("limodd");
    const trimmed = tempDir("limtrim");
    dirs.push(odd, trimmed);
    for (const e of ["transactions", "transaction_items", "users", "menu_items"]) {
      const name = (await Array.fromAsync(new Bun.Glob("*.csv").scan(join(data, e))))[0]!;
      const text = await Bun.file(join(data, e, name)).text();
      await Bun.write(join(odd, e, name), text);
      await Bun.write(join(trimmed, e, name), text);
    }
    // Store 1 with a 300-byte name (the gateway here allows 200): rejected, so its sales leave Q3 and Q4.
    const stores = (await Bun.file(join(data, "stores", "stores.csv")).text()).trimEnd().split("\n");
    const at = stores.findIndex((l) => l.startsWith("1,"));
    expect(at).toBeGreaterThan(0);
    await Bun.write(join(trimmed, "stores", "stores.csv"), `${stores.filter((_, i) => i !== at).join("\n")}\n`);
    stores[at] = `1,${"x".repeat(300)},${stores[at]!.split(",").slice(2).join(",")}`;
    await Bun.write(join(odd, "stores", "stores.csv"), `${stores.join("\n")}\n`);
    const r = await client({ dataDir: odd });
    expect(r.rejects.lines()).toEqual([`stores/stores.csv: 1 row rejected (line ${at + 1})`]);
    expect(readResults(r.dir)).toEqual((await computeReference(trimmed)).queries);
  });

  test("silence before hello is HANDSHAKE_TIMEOUT; silence mid-upload is CLIENT_IDLE", async () => {
    const silent = await raw(cluster.gatewayPort(), []);
    expect(silent.at(-1)).toMatchObject({ t: "error", code: "HANDSHAKE_TIMEOUT" });
    const idle = await raw(cluster.gatewayPort(), [frame({ t: "hello", v: PROTOCOL_VERSION, token: "s3cret" })]);
    expect(idle[0]).toMatchObject({ t: "welcome" });
    expect(idle.at(-1)).toMatchObject({ t: "error", code: "CLIENT_IDLE" });
  });

  test("an oversized frame is FRAME_TOO_LARGE and ends only that connection", async () => {
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, (1 << 20) + 1);
    const [big, ok] = await Promise.all([raw(cluster.gatewayPort(), [header]), client({})]);
    expect(big.at(-1)).toMatchObject({ t: "error", code: "FRAME_TOO_LARGE" });
    expect(readResults(ok.dir).q1).toBe(expected.q1!);
  });

  test("before its handshake a connection may send no frame over HANDSHAKE_FRAME_BYTES; after its welcome, frames up to --max-frame-bytes", async () => {
    const size = 100_000;
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, size);
    // Announced and not sent: refused on the header alone, before anything is buffered.
    const early = await raw(cluster.gatewayPort(), [header]);
    expect(early.at(-1)).toMatchObject({ t: "error", code: "FRAME_TOO_LARGE", message: `frame of ${size} bytes exceeds the limit of ${HANDSHAKE_FRAME_BYTES} bytes (before its hello, a client's frames are small)` });
    // The same frame after the welcome is read whole (and refused as what it holds, not for its size).
    const late = await raw(cluster.gatewayPort(), [frame({ t: "hello", v: PROTOCOL_VERSION, token: "s3cret" })], (m) =>
      m.t === "welcome" ? [header, new Uint8Array(size).fill(0xc1)] : []);
    expect(late[0]).toMatchObject({ t: "welcome" });
    expect(late.at(-1)).toMatchObject({ t: "error", code: "FRAME_MALFORMED" });
    // Past --max-frame-bytes after the welcome: the message names the options that set the size.
    const huge = new Uint8Array(4);
    new DataView(huge.buffer).setUint32(0, (1 << 20) + 1);
    const over = await raw(cluster.gatewayPort(), [frame({ t: "hello", v: PROTOCOL_VERSION, token: "s3cret" })], (m) => (m.t === "welcome" ? [huge] : []));
    expect(over.at(-1)).toMatchObject({ t: "error", code: "FRAME_TOO_LARGE", message: `frame of ${(1 << 20) + 1} bytes exceeds the limit of ${1 << 20} bytes (the gateway's --max-frame-bytes; lower the client's --batch-bytes or --batch-rows)` });
  });
});

const QUIET: Logger = { info() {}, warn() {}, error() {} };

/** A transport on a broker of its own, with every queue declared. */
async function memoryTransport(name: string): Promise<MemoryTransport> {
  const t = new MemoryTransport(new MemoryBroker(), name);
  await t.declare(allQueues());
  return t;
}

/** A memory transport whose consumers start only once `answer()` is called (a broker slow to answer); counts cancels. */
async function slowBroker(name: string): Promise<{ transport: Transport; answer: () => void; cancelled: () => number }> {
  const { promise: brokerBack, resolve: answer } = Promise.withResolvers<void>();
  const base = await memoryTransport(name);
  let cancels = 0;
  const transport: Transport = {
    declare: (q) => base.declare(q),
    close: () => base.close(),
    publish: (k, b) => base.publish(k, b),
    consume: async (q, o, h) => {
      await brokerBack;
      const consumer = await base.consume(q, o, h);
      return { cancel: async () => { cancels++; await consumer.cancel(); } };
    },
  };
  return { transport, answer, cancelled: () => cancels };
}

/** Run a gateway of its own (127.0.0.1, any port, `config` on top) for `body`; shut down after. */
async function withGateway(
  config: Partial<GatewayConfig>, transport: Transport, body: (gw: GatewayInstance) => Promise<void>,
  log: Logger = QUIET, governor?: GatewayRuntime["governor"],
): Promise<void> {
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, ...config }), transport, log, { governor });
  const running = gw.run();
  try {
    await body(gw);
  } finally {
    await gw.shutdown();
    await running;
  }
}

test("a gateway that cannot listen rejects `listening` with CONFIG_INVALID instead of hanging", async () => {
  const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const transport = await memoryTransport("busy");
  try {
    const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: busy.port }), transport, QUIET);
    const run = gw.run().catch((err: unknown) => err);
    const err = await gw.listening.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoffeeError);
    expect((err as CoffeeError).code).toBe("CONFIG_INVALID");
    expect((err as Error).message).toContain(`--port ${busy.port}`);
    expect(await run).toBe(err);
  } finally {
    busy.stop(true);
  }
});

test("the gateway counts every received frame with the heap governor, not only what it publishes", async () => {
  const checked: number[] = [];
  const governor = { collections: 0, check: (bytes = 0) => void checked.push(bytes), stop() {} };
  await withGateway({}, await memoryTransport("governed"), async (gw) => {
    const hello = frame({ t: "hello", v: PROTOCOL_VERSION });
    const decoder = new FrameDecoder(1 << 20);
    let welcomed: (m: GatewayMessage) => void = () => {};
    const welcome = new Promise<GatewayMessage>((r) => (welcomed = r));
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: await gw.listening, socket: { data(_s, d) { for (const f of decoder.push(d)) welcomed(decodeGatewayMessage(f)); } } });
    try {
      socket.write(hello);
      expect(await welcome).toMatchObject({ t: "welcome" });
      // The frame's payload, counted before it is decoded: the gateway's garbage is mostly what clients send.
      expect(checked).toContain(hello.length - 4);
    } finally {
      socket.end();
    }
  }, QUIET, governor);
});

test("connections that have yet to say hello are bounded by --max-handshakes: one more is told CONNECTION_LIMIT, even with its hello on the way; a hello frees a place", async () => {
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxHandshakes: 2 }), await memoryTransport("handshakes"), QUIET);
  void gw.run();
  const port = await gw.listening;
  try {
    // Accepted in the order they connect: the third is over the bound, and reads why with its
    // hello on the way. (The gateway leaves a refused connection for its client to hang up, so an
    // unread hello cannot turn the close into a reset that loses the frame; in one process the
    // hello is read before any close, so this test cannot show that part.)
    const a = await openRaw(port);
    const b = await openRaw(port);
    const c = await openRaw(port);
    c.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await c.next("welcome")).toMatchObject({ t: "error", code: "CONNECTION_LIMIT", message: "gateway busy: 2 connections have yet to say hello (its --max-handshakes); try again later" });
    c.end();
    await c.closed;
    expect(gw.status()).toMatchObject({ refusedHandshakes: 1, handshaking: 2 });
    // One says hello: its place is free for the next connection (a hang-up frees one too: the
    // next test's client gets in only that way).
    a.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await a.next("welcome")).toMatchObject({ t: "welcome" });
    expect(gw.status()).toMatchObject({ handshaking: 1 });
    const d = await openRaw(port);
    d.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await d.next("welcome")).toMatchObject({ t: "welcome" });
    for (const conn of [a, b, d]) conn.end();
  } finally {
    await gw.shutdown();
  }
});

test("a client turned away for --max-handshakes tries again within --connect-retry-s, and its session completes once a place is free", async () => {
  const { promise: refusing, resolve: sawRefusal } = Promise.withResolvers<void>();
  const log = { info() {}, warn: (m: string) => void (m.startsWith("refusing new connections") && sawRefusal()), error() {} };
  const broker = new MemoryBroker();
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxHandshakes: 1 }), new Map(), () => new MemoryTransport(broker, "retry"), true, "fused", undefined, (name) => (name === "gateway" ? log : QUIET));
  const data = tempDir("retrydata");
  const out = tempDir("retryout");
  try {
    await generateDataset({ out: data, seed: 5, months: parseMonthRange("2024-01..2024-01"), transactionsPerMonth: 200, users: 50, stores: 10, menuItems: 8 });
    // Holds the one place: the client is turned away until it hangs up.
    const holder = await openRaw(cluster.gatewayPort());
    const run = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, connectRetryMs: 30_000 }));
    await refusing;
    holder.end();
    const r = await run;
    expect(readResults(r.dir)).toEqual((await computeReference(data)).queries);
  } finally {
    await cluster.shutdown();
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("with --wait-for-slot-s a client refused for --max-sessions asks again past --connect-retry-s, and its session completes once a slot is free", async () => {
  const broker = new MemoryBroker();
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxSessions: 1 }), new Map(), () => new MemoryTransport(broker, "slotwait"), true, "fused", undefined, () => QUIET);
  const gateway = cluster.roles.find((r) => r.role === "gateway")!.instance;
  const refusals = (): number => Number(gateway.status().rejectedFull);
  const data = tempDir("slotdata");
  const out = tempDir("slotout");
  try {
    await generateDataset({ out: data, seed: 6, months: parseMonthRange("2024-01..2024-01"), transactionsPerMonth: 200, users: 50, stores: 10, menuItems: 8 });
    // Holds the one slot until it gives its session up.
    const holder = await openRaw(cluster.gatewayPort());
    holder.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await holder.next("welcome")).toMatchObject({ t: "welcome", resumed: false });
    // One connect attempt only: asking again is the wait's doing, not the connect budget's.
    const run = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, connectRetryMs: 0, waitForSlotMs: 60_000 }));
    while (refusals() < 2) await Bun.sleep(20);
    holder.send(frame({ t: "abort" }));
    const r = await run;
    expect(readResults(r.dir)).toEqual((await computeReference(data)).queries);
    holder.end();

    // A wait that is spent ends the run with the gateway's refusal, saying how long it waited.
    const blocker = await openRaw(cluster.gatewayPort());
    blocker.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await blocker.next("welcome")).toMatchObject({ t: "welcome", resumed: false });
    const before = refusals();
    const given = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, connectRetryMs: 0, waitForSlotMs: 1000 })).then(() => null, (e: unknown) => e);
    expect(given).toBeInstanceOf(CoffeeError);
    expect((given as CoffeeError).code).toBe("SESSION_LIMIT");
    expect((given as CoffeeError).message).toMatch(/^server full: 1 of 1 sessions in use .*; no slot came free within --wait-for-slot-s 1$/);
    expect(refusals() - before).toBeGreaterThanOrEqual(2);
    blocker.end();
  } finally {
    await cluster.shutdown();
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("a client gone before its welcome frees its session slot at once; one gone after keeps it for a resume", async () => {
  // The welcome leaves after the commit that logs the session: hold that commit until the
  // gateway has seen the client go, so the close comes first whatever the event loop's order.
  const { promise: commitStarted, resolve: committing } = Promise.withResolvers<void>();
  const { promise: gate, resolve: release } = Promise.withResolvers<void>();
  const commit = GatewayStore.prototype.commit;
  const held = spyOn(GatewayStore.prototype, "commit").mockImplementation(async function (this: GatewayStore) {
    committing();
    await gate;
    return commit.call(this);
  });
  const { promise: closeSeen, resolve: sawClose } = Promise.withResolvers<void>();
  const log = { info: (m: string) => void (/client disconnected|purged/.test(m) && sawClose()), warn() {}, error() {} };
  const hello = frame({ t: "hello", v: PROTOCOL_VERSION });
  try {
    await withGateway({ maxSessions: 1 }, await memoryTransport("prewelcome"), async (gw) => {
      try {
        const port = await gw.listening;
        const gone = await openRaw(port);
        gone.send(hello);
        await commitStarted;
        gone.end();
        await closeSeen;
        release();
        await gone.closed;
        expect(gone.seen).toEqual([]);
        const welcomed = await openRaw(port);
        welcomed.send(hello);
        expect(await welcomed.next("welcome")).toMatchObject({ t: "welcome", resumed: false });
        welcomed.end();
        await welcomed.closed;
        // That client knows its session id and may resume it, so its slot stays taken (until the TTL).
        const third = await openRaw(port);
        third.send(hello);
        expect(await third.next("welcome")).toMatchObject({ t: "error", code: "SESSION_LIMIT" });
        third.end();
      } finally {
        // Before the shutdown, whose commit would otherwise wait on the gate.
        release();
      }
    }, log);
  } finally {
    held.mockRestore();
  }
});

test("a gateway whose sessions are only ever purged compacts its log too", async () => {
  const stateDir = tempDir("purgedonly");
  try {
    await withGateway({ stateDir }, await memoryTransport("purgedonly"), async (gw) => {
      // A protocol error after the welcome purges the session: nothing is live in the log afterwards.
      const replies = await raw(await gw.listening, [frame({ t: "hello", v: PROTOCOL_VERSION })], (m) => (m.t === "welcome" ? [frame({ t: "bye" })] : []));
      expect(replies.at(-1)).toMatchObject({ t: "error", code: "PROTOCOL_VIOLATION" });
      const deadline = performance.now() + 10_000;
      const snapshots = (): string[] => readdirSync(stateDir).filter((f) => f.startsWith("snapshot-"));
      while (snapshots().length === 0 && performance.now() < deadline) await Bun.sleep(10);
      expect(snapshots()).toHaveLength(1);
    });
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("an error the gateway did not raise on purpose is INTERNAL to the client, not its protocol violation", async () => {
  const errors: string[] = [];
  const governor = { collections: 0, check: () => { throw new RangeError("out of memory (simulated)"); }, stop() {} };
  await withGateway({}, await memoryTransport("internal"), async (gw) => {
    const replies = await raw(await gw.listening, [frame({ t: "hello", v: PROTOCOL_VERSION })]);
    expect(replies).toEqual([expect.objectContaining({ t: "error", code: "INTERNAL", message: "out of memory (simulated)" })]);
    expect(errors.some((e) => e.includes("RangeError: out of memory (simulated)"))).toBe(true);
  }, { info() {}, warn() {}, error: (m) => errors.push(m) }, governor);
});

test("a restarted gateway's recovered sessions wait their TTL from when it listens, not while the broker is slow", async () => {
  const stateDir = tempDir("slowbroker");
  let session = "";
  await withGateway({ stateDir }, await memoryTransport("slowbroker"), async (gw) => {
    const conn = await openRaw(await gw.listening);
    conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    const welcome = await conn.next("welcome");
    session = welcome.t === "welcome" ? welcome.session : "";
  });

  // The restarted gateway's broker answers only after twice the session TTL.
  // Long enough that the resume below lands within it after the listen, even on a loaded machine.
  const ttlMs = 1500;
  const { transport: slow, answer } = await slowBroker("slowbroker");
  try {
    await withGateway({ stateDir, sessionTtlMs: ttlMs }, slow, async (gw) => {
      // Nothing to wait for but time: the TTL must not have run while nobody could resume.
      await Bun.sleep(2 * ttlMs);
      answer();
      const again = await openRaw(await gw.listening);
      again.send(frame({ t: "resume", v: PROTOCOL_VERSION, session, sent: {}, eos: [] }));
      expect(await again.next("welcome")).toMatchObject({ t: "welcome", session, resumed: true });
      again.end();
    });
  } finally {
    answer();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("a client's abort purges its session and frees its slot at once, not after the TTL", async () => {
  const transport = await memoryTransport("abort");
  const purges: string[] = [];
  const log = { info: (m: string) => void (m.includes("purged") && purges.push(m)), warn() {}, error() {} };
  await withGateway({ maxSessions: 1 }, transport, async (gw) => {
    const port = await gw.listening;
    const first = await openRaw(port);
    first.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    const welcome = await first.next("welcome");
    expect(welcome).toMatchObject({ t: "welcome" });
    first.send(frame({ t: "abort" }));
    await first.closed;
    expect(purges).toEqual([`session ${(welcome as Extract<GatewayMessage, { t: "welcome" }>).session} purged: its client gave it up`]);
    expect(gw.status()).toMatchObject({ sessions: 0, sessionsPurged: 1 });
    // The only slot is free for the next client (without the abort it stays taken until the TTL).
    const next = await openRaw(port);
    next.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await next.next("welcome")).toMatchObject({ t: "welcome", resumed: false });
    next.end();
    await next.closed;
  }, log);
});

test("a session a stage failed while its client was away: the client learns PIPELINE_FAILED when it resumes", async () => {
  const transport = await memoryTransport("failaway");
  const { promise: clientLeft, resolve: left } = Promise.withResolvers<void>();
  const { promise: sessionPurged, resolve: purged } = Promise.withResolvers<void>();
  const log = { info: (m: string) => { if (m.includes("client disconnected")) left(); if (m.includes("purged")) purged(); }, warn() {}, error() {} };
  await withGateway({}, transport, async (gw) => {
    const port = await gw.listening;
    const first = await openRaw(port);
    first.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    const welcome = (await first.next("welcome")) as Extract<GatewayMessage, { t: "welcome" }>;
    first.end();
    await clientLeft;
    await transport.publish(RESULTS_KEY, encodeMessage({ kind: "failed", session: welcome.session, reason: "agg-q4: transactions batch #2 could not be applied: boom" }));
    await sessionPurged;
    const back = await openRaw(port);
    back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: welcome.session, sent: {}, eos: [] }));
    expect(await back.next("welcome")).toEqual({
      t: "error", code: "PIPELINE_FAILED",
      message: "a stage could not process this session's data (agg-q4: transactions batch #2 could not be applied: boom); the session was dropped",
    });
    await back.closed;
  }, log);
});

test("knowing a session's id is not enough to take it over: a resume without its key is SESSION_UNKNOWN, the owner keeps it", async () => {
  const transport = await memoryTransport("keyed");
  await withGateway({ heartbeatMs: 50 }, transport, async (gw) => {
    const port = await gw.listening;
    const owner = await openRaw(port);
    owner.send(frame({ t: "hello", v: PROTOCOL_VERSION, keyed: true }));
    const welcome = (await owner.next("welcome")) as Extract<GatewayMessage, { t: "welcome" }>;
    expect(welcome.key).toMatch(/^[\w-]{22}$/);
    // The id is printed by the client and logged by the gateway: another peer may know it.
    const thief = await openRaw(port);
    thief.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: welcome.session, sent: {}, eos: [] }));
    expect(await thief.next("welcome")).toMatchObject({ t: "error", code: "SESSION_UNKNOWN" });
    await thief.closed;
    // Nothing happened to the owner's connection: it still hears its heartbeats.
    expect(await owner.next("heartbeat")).toEqual({ t: "heartbeat" });
    // Its own client, back on a new connection with the key, resumes it.
    const back = await openRaw(port);
    back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: welcome.session, sent: {}, eos: [], key: welcome.key }));
    expect(await back.next("welcome")).toMatchObject({ t: "welcome", session: welcome.session, resumed: true });
    back.end();
    await back.closed;
    await owner.closed;
  });
});

test("a session a stage failed while its client was connected: a resume after the error is told PIPELINE_FAILED too", async () => {
  const transport = await memoryTransport("failhere");
  await withGateway({}, transport, async (gw) => {
    const port = await gw.listening;
    const conn = await openRaw(port);
    conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    const welcome = (await conn.next("welcome")) as Extract<GatewayMessage, { t: "welcome" }>;
    await transport.publish(RESULTS_KEY, encodeMessage({ kind: "failed", session: welcome.session, reason: "filter-year: transactions batch #0 could not be processed: boom" }));
    expect(await conn.next("done")).toMatchObject({ t: "error", code: "PIPELINE_FAILED" });
    await conn.closed;
    // Its client may have missed that error (a dead connection): resuming, it learns it again.
    const back = await openRaw(port);
    back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: welcome.session, sent: {}, eos: [] }));
    expect(await back.next("welcome")).toMatchObject({ t: "error", code: "PIPELINE_FAILED" });
    await back.closed;
  });
});

test("an open session hears a heartbeat every --heartbeat-ms, the interval its welcome names", async () => {
  const transport = await memoryTransport("beat");
  await withGateway({ heartbeatMs: 50 }, transport, async (gw) => {
    const conn = await openRaw(await gw.listening);
    conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await conn.next("welcome")).toMatchObject({ t: "welcome", heartbeatMs: 50 });
    // Nothing else comes to a session whose upload has not even started: these are heartbeats.
    expect(await conn.next("heartbeat")).toEqual({ t: "heartbeat" });
    expect(await conn.next("heartbeat")).toEqual({ t: "heartbeat" });
    conn.end();
    await conn.closed;
  });
});

test("a session whose upload is over and which gets no result for --result-timeout-s fails PIPELINE_STALLED, told now and on a resume", async () => {
  const transport = await memoryTransport("stall");
  // No stage runs here: nothing will ever answer this session's data.
  await withGateway({ heartbeatMs: 50, resultTimeoutMs: 300 }, transport, async (gw) => {
    const port = await gw.listening;
    const conn = await openRaw(port);
    const session = await emptyUpload(conn);
    // Q1's result, whole: the stall names the three others and their aggregators.
    await transport.publish(RESULTS_KEY, encodeMessage({ kind: "result", session, query: "q1", chunk: 0, last: true, csv: "transaction_id,final_amount\n" }));
    const stalled = await conn.next("error");
    expect(stalled).toMatchObject({ t: "error", code: "PIPELINE_STALLED" });
    expect((stalled as Extract<GatewayMessage, { t: "error" }>).message).toStartWith("no result for 0.3 s after the upload ended; incomplete: q2, q3, q4 (a stage on the way to agg-q2, agg-q3, agg-q4 lost");
    // Heartbeats came while it waited.
    expect(conn.seen.some((m) => m.t === "heartbeat")).toBe(true);
    await conn.closed;
    const back = await openRaw(port);
    back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: session, sent: {}, eos: [...ENTITIES] }));
    expect(await back.next("welcome")).toMatchObject({ t: "error", code: "PIPELINE_STALLED" });
    await back.closed;
  });
});

test("a client waiting for results is not CLIENT_IDLE, however short --idle-timeout-s: a pipeline that delivers nothing is PIPELINE_STALLED", async () => {
  const transport = await memoryTransport("stall-idle");
  // Idle deadline far below the result deadline, as the defaults are (120 s and 600 s).
  await withGateway({ heartbeatMs: 50, idleTimeoutMs: 100, resultTimeoutMs: 800 }, transport, async (gw) => {
    const conn = await openRaw(await gw.listening);
    await emptyUpload(conn);
    const stalled = await conn.next("error");
    expect(stalled).toMatchObject({ t: "error", code: "PIPELINE_STALLED" });
    await conn.closed;
  });
});

/** A transport like a blocked RabbitMQ connection: the gateway's probe is taken but not confirmed until `release()`. */
async function heldTransport(name: string): Promise<{ transport: Transport; release: () => void }> {
  const base = await memoryTransport(name);
  const { promise: brokerBack, resolve: release } = Promise.withResolvers<void>();
  const transport: Transport = {
    declare: (q) => base.declare(q),
    close: () => base.close(),
    consume: (q, o, h) => base.consume(q, o, h),
    publish: (k, b) => base.publish(k, b),
    probePublish: () => brokerBack,
  };
  return { transport, release };
}

test("while the broker confirms no publish (a resource alarm) a session awaiting results is not failed; its deadline runs afresh after", async () => {
  const { transport, release } = await heldTransport("held");
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  await withGateway({ heartbeatMs: 50, resultTimeoutMs: 300 }, transport, async (gw) => {
    const conn = await openRaw(await gw.listening);
    await emptyUpload(conn);
    // Twenty ticks, 1 s: over three timeouts, and no error among them; the client is told why.
    expect(await heldHeartbeats(conn, 20)).toBe(true);
    expect(gw.status().brokerHeld).toBe(true);
    expect(lines.filter((l) => l.includes("confirmed no publish"))).toHaveLength(1);
    release();
    // Still no stage: once the broker takes publishes, the deadline runs and the session fails.
    expect(await conn.next("error")).toMatchObject({ t: "error", code: "PIPELINE_STALLED" });
    expect(lines.some((l) => l.includes("takes publishes again"))).toBe(true);
    expect(gw.status().brokerHeld).toBe(false);
    await conn.closed;
  }, log);
});

test("a client still uploading is told too when the broker confirms no publish, since its acks stop for the same reason", async () => {
  const { transport, release } = await heldTransport("held-upload");
  await withGateway({ heartbeatMs: 50 }, transport, async (gw) => {
    const conn = await openRaw(await gw.listening);
    conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    expect(await conn.next("welcome")).toMatchObject({ t: "welcome" });
    // No end-of-stream: the session is uploading, and no session awaits results.
    expect(await heldHeartbeats(conn, 6)).toBe(true);
    expect(gw.status().brokerHeld).toBe(true);
    release();
    // The next probe is confirmed: heartbeats go back to plain ones.
    let beat = await conn.next("heartbeat");
    while (beat.t === "heartbeat" && beat.brokerHeld === true) beat = await conn.next("heartbeat");
    expect(beat).toEqual({ t: "heartbeat" });
    expect(gw.status().brokerHeld).toBe(false);
    conn.end();
    await conn.closed;
  });
});

test("a session whose results trickle in slower than --result-timeout-s in all is not stalled while each chunk comes within it", async () => {
  const transport = await memoryTransport("trickle");
  await withGateway({ heartbeatMs: 50, resultTimeoutMs: 1000 }, transport, async (gw) => {
    const conn = await openRaw(await gw.listening);
    const session = await emptyUpload(conn);
    // A slow aggregator: a Q1 chunk every 400 ms, 2.4 s in all; then nothing more.
    for (let chunk = 0; chunk < 6; chunk++) {
      await Bun.sleep(400); // the pace of the simulated pipeline, not a wait for an event
      await transport.publish(RESULTS_KEY, encodeMessage({ kind: "result", session: session, query: "q1", chunk, last: false, csv: `row ${chunk}\n` }));
      expect(await conn.next("result")).toMatchObject({ t: "result", chunk });
    }
    expect(await conn.next("error")).toMatchObject({ t: "error", code: "PIPELINE_STALLED" });
    await conn.closed;
  });
});

test("a session with every result stored never stalls: its client, away past --result-timeout-s, resumes and gets them", async () => {
  const transport = await memoryTransport("stored");
  const { promise: clientLeft, resolve: left } = Promise.withResolvers<void>();
  const log = { info: (m: string) => { if (m.includes("client disconnected")) left(); }, warn() {}, error() {} };
  await withGateway({ heartbeatMs: 50, resultTimeoutMs: 1000 }, transport, async (gw) => {
    const port = await gw.listening;
    const conn = await openRaw(port);
    const session = await emptyUpload(conn);
    conn.end();
    // Away as the gateway sees it: the results find no connection to finish the session on.
    await clientLeft;
    for (const query of QUERIES) await transport.publish(RESULTS_KEY, encodeMessage({ kind: "result", session: session, query, chunk: 0, last: true, csv: `${query}\n` }));
    // Another session's heartbeats tell the gateway's ticks: forty of them, 2 s, two timeouts.
    const clock = await openRaw(port);
    clock.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
    await clock.next("welcome");
    for (let tick = 0; tick < 40; tick++) await clock.next("heartbeat");
    const back = await openRaw(port);
    back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session: session, sent: {}, eos: [...ENTITIES] }));
    expect(await back.next("welcome")).toMatchObject({ t: "welcome", resumed: true });
    back.send(frame({ t: "resent" }));
    expect(await back.next("done")).toEqual({ t: "done" });
    expect(back.seen.filter((m) => m.t === "result")).toHaveLength(QUERIES.length);
    back.end();
    clock.end();
  }, log);
});

test("a session a stage failed while its client was away: a gateway restarted since still tells PIPELINE_FAILED on the resume", async () => {
  const stateDir = tempDir("failrestart");
  const transport = await memoryTransport("failrestart");
  let session = "";
  try {
    const { promise: sessionPurged, resolve: purged } = Promise.withResolvers<void>();
    const { promise: clientLeft, resolve: left } = Promise.withResolvers<void>();
    const log = { info: (m: string) => { if (m.includes("client disconnected")) left(); if (m.includes("purged")) purged(); }, warn() {}, error() {} };
    await withGateway({ stateDir }, transport, async (gw) => {
      const first = await openRaw(await gw.listening);
      first.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
      session = ((await first.next("welcome")) as Extract<GatewayMessage, { t: "welcome" }>).session;
      first.end();
      await clientLeft;
      await transport.publish(RESULTS_KEY, encodeMessage({ kind: "failed", session, reason: "agg-q2: boom" }));
      await sessionPurged;
    }, log);
    await withGateway({ stateDir }, transport, async (gw) => {
      const back = await openRaw(await gw.listening);
      back.send(frame({ t: "resume", v: PROTOCOL_VERSION, session, sent: {}, eos: [] }));
      expect(await back.next("welcome")).toEqual({
        t: "error", code: "PIPELINE_FAILED",
        message: "a stage could not process this session's data (agg-q2: boom); the session was dropped",
      });
      await back.closed;
    });
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("a gateway shut down while the broker has not yet answered never listens, and says so", async () => {
  const { transport: slow, answer, cancelled } = await slowBroker("latebroker");
  const gw = await createGateway(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), slow, QUIET);
  const running = gw.run();
  await gw.shutdown();
  answer();
  await running;
  expect(await gw.listening.then(() => null, (e: unknown) => (e as CoffeeError).code)).toBe("INTERRUPTED");
  expect(gw.port()).toBe(0);
  expect(cancelled()).toBe(1);
});
