/**
 * The client's side of a resume, against a scripted gateway (real client in-process, real TCP):
 * a session whose `done` was lost with its connection, and which the gateway has forgotten, is
 * complete if every result and ack reached the client, and fails with SESSION_UNKNOWN if not.
 */
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultClientConfig, runClient, type ClientConfig } from "../roles/client.ts";
import { CoffeeError } from "../src/errors.ts";
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { pingHealth } from "../src/health.ts";
import { freeUdpPort } from "../src/ports.ts";
import { decodeClientMessage, encodeProtocol, type ClientMessage, type GatewayMessage } from "../src/protocol.ts";
import { ENTITIES, QUERIES, queryFileName, type QueryName } from "../src/schema.ts";
import { coffeeArgv, scratchDirs } from "./harness.ts";

const scratch = scratchDirs();
const data = scratch("client-resume");
await generateDataset({ out: data, seed: 3, months: parseMonthRange("2024-01..2024-01"), transactionsPerMonth: 40, users: 10, stores: 3, menuItems: 4 });

const SESSION = "00000000-0000-4000-8000-00000000d0e5";

/** The CoffeeError a client session against `port`, writing to `outDir`, fails with. */
async function clientFailure(port: number, outDir: string, overrides: Partial<ClientConfig> = {}): Promise<CoffeeError> {
  const failure = await runClient(defaultClientConfig({ dataDir: data, outDir, host: "127.0.0.1", port, quiet: true, ...overrides })).then(() => null, (e: unknown) => e);
  expect(failure).toBeInstanceOf(CoffeeError);
  return failure as CoffeeError;
}

/**
 * A gateway that acks every batch and end-of-stream of its first connection, then sends one
 * result chunk for each of `queries` and drops the connection without `done`; any later
 * connection is answered as a gateway that no longer knows the session.
 */
function forgetfulGateway(queries: readonly QueryName[]): { port: number; resumes: ClientMessage[]; stop: () => void } {
  const resumes: ClientMessage[] = [];
  let connections = 0;
  const server = Bun.listen<{ decoder: FrameDecoder; first: boolean; eos: number }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(socket) {
        socket.data = { decoder: new FrameDecoder(64 << 20), first: connections++ === 0, eos: 0 };
      },
      data(socket, bytes) {
        const reply = (m: GatewayMessage): void => void socket.write(encodeFrame(encodeProtocol(m)));
        for (const f of socket.data.decoder.push(bytes)) {
          const msg = decodeClientMessage(f);
          if (!socket.data.first) {
            resumes.push(msg);
            reply({ t: "error", code: "SESSION_UNKNOWN", message: `session ${SESSION} is unknown here` });
            socket.end();
            return;
          }
          if (msg.t === "hello") reply({ t: "welcome", session: SESSION, maxInFlight: 64, resumed: false, heartbeatMs: 10_000 });
          else if (msg.t === "batch") reply({ t: "ack", entity: msg.entity, seq: msg.seq, rejected: [] });
          else if (msg.t === "eos") {
            reply({ t: "eos-ack", entity: msg.entity });
            if (++socket.data.eos === ENTITIES.length) {
              for (const query of queries) reply({ t: "result", query, chunk: 0, last: true, csv: `${query} header\n${query} row\n` });
              socket.end();
            }
          }
        }
      },
    },
  });
  return { port: server.port, resumes, stop: () => server.stop(true) };
}

test("done lost with the connection, session forgotten: the client has everything, and its results are committed", async () => {
  const gateway = forgetfulGateway(QUERIES);
  const out = scratch("client-resume-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true }));
    expect(gateway.resumes).toMatchObject([{ t: "resume", session: SESSION }]);
    expect(r.session).toBe(SESSION);
    for (const q of QUERIES) expect(readFileSync(join(r.dir, queryFileName(q)), "utf8")).toBe(`${q} header\n${q} row\n`);
  } finally {
    gateway.stop();
  }
});

test("session forgotten before the client had every result: SESSION_UNKNOWN, and no file looks complete", async () => {
  const gateway = forgetfulGateway(QUERIES.slice(0, -1));
  const out = scratch("client-resume-short");
  try {
    expect((await clientFailure(gateway.port, out)).code).toBe("SESSION_UNKNOWN");
    expect(gateway.resumes).toHaveLength(1);
    expect(() => readFileSync(join(out, `session_${SESSION}`, queryFileName(QUERIES[0]!)))).toThrow();
  } finally {
    gateway.stop();
  }
});

test("a gateway frame the client cannot decode fails the session at once; it does not resume into it again", async () => {
  let connections = 0;
  const server = Bun.listen<{ decoder: FrameDecoder }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(socket) {
        connections++;
        socket.data = { decoder: new FrameDecoder(64 << 20) };
      },
      data(socket, bytes) {
        for (const f of socket.data.decoder.push(bytes)) {
          if (decodeClientMessage(f).t !== "hello") continue;
          socket.write(encodeFrame(encodeProtocol({ t: "welcome", session: SESSION, maxInFlight: 64, resumed: false, heartbeatMs: 10_000 })));
          socket.write(encodeFrame(Uint8Array.of(0xc1)));
        }
      },
    },
  });
  const out = scratch("client-undecodable");
  try {
    expect((await clientFailure(server.port, out)).code).toBe("FRAME_MALFORMED");
    expect(connections).toBe(1);
  } finally {
    server.stop(true);
  }
});

test("an --out the client cannot write to is CONFIG_INVALID before any session starts", async () => {
  const blocker = join(scratch("client-out-blocked"), "file");
  await Bun.write(blocker, "not a directory");
  const failure = await clientFailure(1, join(blocker, "sub"));
  expect(failure.code).toBe("CONFIG_INVALID");
  expect(failure.message).toContain(`--out ${join(blocker, "sub")}: cannot write results there`);
});

/**
 * A port that accepts and closes at once (Docker's proxy while the gateway container is down):
 * after `welcomeFirst` connections that are welcomed (and then cut), every later one is closed
 * before a word. Counts the connections it took.
 */
function slammingGateway(welcomeFirst: number): { port: number; connections: () => number; stop: () => void } {
  let connections = 0;
  const server = Bun.listen<{ decoder: FrameDecoder; welcome: boolean }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(socket) {
        socket.data = { decoder: new FrameDecoder(64 << 20), welcome: connections++ < welcomeFirst };
        if (!socket.data.welcome) socket.end();
      },
      data(socket, bytes) {
        for (const f of socket.data.decoder.push(bytes)) {
          if (decodeClientMessage(f).t === "hello" && socket.data.welcome) {
            socket.write(encodeFrame(encodeProtocol({ t: "welcome", session: SESSION, maxInFlight: 64, resumed: false, heartbeatMs: 10_000 })));
            socket.end();
          }
        }
      },
    },
  });
  return { port: server.port, connections: () => connections, stop: () => server.stop(true) };
}

/** How a client run against a slamming gateway (welcoming `welcomeFirst` connections) fails, and how many connections it made. */
async function slammed(welcomeFirst: number, overrides: Partial<ClientConfig>): Promise<{ failure: CoffeeError; connections: number }> {
  const gateway = slammingGateway(welcomeFirst);
  const out = scratch("slam-out");
  try {
    const failure = await clientFailure(gateway.port, out, overrides);
    return { failure, connections: gateway.connections() };
  } finally {
    gateway.stop();
  }
}

test("a gateway port that accepts and closes at once is retried with backoff within --connect-retry-s, then given up on", async () => {
  const { failure, connections } = await slammed(0, { connectRetryMs: 1500 });
  expect(failure.code).toBe("CONNECTION_LOST");
  expect(failure.message).toContain("be welcomed within 1.5 s");
  // Backoff from 100 ms doubling to 2 s: a handful of attempts in 1.5 s, not thousands.
  expect(connections).toBeGreaterThan(1);
  expect(connections).toBeLessThan(15);
});

test("after a welcome, reconnects that are closed at once use one --reconnect-timeout-s budget, not a fresh one per drop", async () => {
  const { failure, connections } = await slammed(1, { reconnectTimeoutMs: 1500 });
  expect(failure.code).toBe("CONNECTION_LOST");
  expect(failure.message).toContain(`could not resume session ${SESSION} within 1.5 s`);
  expect(connections).toBeLessThan(15);
});

/**
 * A gateway that welcomes, then acks nothing: the client's upload stalls on its window, as it
 * would on a slow broker. `firstBatch` and `aborted` resolve when such a message arrives; every
 * message is kept.
 */
function stallingGateway(): { port: number; got: ClientMessage[]; firstBatch: Promise<void>; aborted: Promise<void>; closed: Promise<void>; stop: () => void } {
  const got: ClientMessage[] = [];
  const { promise: firstBatch, resolve: batchArrived } = Promise.withResolvers<void>();
  const { promise: aborted, resolve: abortArrived } = Promise.withResolvers<void>();
  const { promise: closed, resolve: connectionClosed } = Promise.withResolvers<void>();
  const server = Bun.listen<{ decoder: FrameDecoder }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(socket) {
        socket.data = { decoder: new FrameDecoder(64 << 20) };
      },
      data(socket, bytes) {
        for (const f of socket.data.decoder.push(bytes)) {
          const msg = decodeClientMessage(f);
          got.push(msg);
          if (msg.t === "hello") socket.write(encodeFrame(encodeProtocol({ t: "welcome", session: SESSION, maxInFlight: 64, resumed: false, heartbeatMs: 10_000 })));
          if (msg.t === "batch") batchArrived();
          if (msg.t === "abort") abortArrived();
        }
      },
      close() {
        connectionClosed();
      },
    },
  });
  return { port: server.port, got, firstBatch, aborted, closed, stop: () => server.stop(true) };
}

test("an interrupted client says abort to the gateway, fails INTERRUPTED and leaves no partial file", async () => {
  const gateway = stallingGateway();
  const out = scratch("abort-out");
  const stop = new AbortController();
  try {
    // One row per batch and a window of two: a sender is waiting for room when the abort comes.
    const run = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true, batchRows: 1, window: 2, signal: stop.signal })).then(() => null, (e: unknown) => e);
    await gateway.firstBatch;
    stop.abort("SIGINT");
    const failure = await run;
    expect(failure).toBeInstanceOf(CoffeeError);
    expect((failure as CoffeeError).code).toBe("INTERRUPTED");
    expect((failure as CoffeeError).message).toBe(`interrupted by SIGINT; session ${SESSION} given up`);
    await gateway.closed;
    // The abort is the last word: no batch follows it.
    expect(gateway.got.at(-1)).toEqual({ t: "abort" });
    expect(gateway.got.filter((m) => m.t === "abort")).toHaveLength(1);
    expect(readdirSync(out)).toEqual([]);
  } finally {
    gateway.stop();
  }
});

test("a client started under nohup keeps ignoring SIGHUP (a closed terminal), and still stops at SIGTERM", async () => {
  const gateway = stallingGateway();
  const out = scratch("nohup-out");
  try {
    const healthPort = await freeUdpPort();
    const child = Bun.spawn(["nohup", ...coffeeArgv("--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${gateway.port}`, "--quiet", "--health-port", String(healthPort))], { stdout: "pipe", stderr: "pipe" });
    await gateway.firstBatch;
    child.kill("SIGHUP");
    // Two health round trips through the client's event loop: a SIGHUP handler would have run by then.
    for (let i = 0; i < 2; i++) expect(await pingHealth("127.0.0.1", healthPort, 5000)).not.toBeNull();
    child.kill("SIGTERM");
    const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    // Had SIGHUP been taken, it would have come first and named itself.
    expect(stderr).toContain(`coffee client: INTERRUPTED: interrupted by SIGTERM; session ${SESSION} given up`);
    expect(exitCode).toBe(143);
    await gateway.aborted;
  } finally {
    gateway.stop();
  }
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  test(`coffee --role client stopped by ${signal} exits ${code} with one line, the gateway told (a closed terminal frees the slot at once too)`, async () => {
    const gateway = stallingGateway();
    const out = scratch(`${signal}-out`);
    try {
      const child = Bun.spawn(coffeeArgv("--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${gateway.port}`, "--quiet"), { stdout: "pipe", stderr: "pipe" });
      await gateway.firstBatch;
      child.kill(signal);
      const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
      expect(exitCode).toBe(code);
      expect(stderr.trim()).toBe(`coffee client: INTERRUPTED: interrupted by ${signal}; session ${SESSION} given up`);
      await gateway.aborted;
      expect(existsSync(join(out, `session_${SESSION}`))).toBe(false);
    } finally {
      gateway.stop();
    }
  });
}
