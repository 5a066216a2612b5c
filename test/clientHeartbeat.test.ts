/**
 * The client's side of gateway heartbeats, against a scripted gateway (real client in-process,
 * real TCP): heartbeats keep a computing session alive past --idle-timeout-s, and a gateway that
 * goes silent with its connection still open is left for a new connection that resumes.
 */
import { expect, spyOn, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { decodeClientMessage, encodeProtocol, type ClientMessage, type GatewayMessage } from "../src/protocol.ts";
import { ENTITIES, QUERIES, queryFileName } from "../src/schema.ts";
import { scratchDirs } from "./harness.ts";

const scratch = scratchDirs();
const data = scratch("client-beat");
await generateDataset({ out: data, seed: 5, months: parseMonthRange("2024-01..2024-01"), transactionsPerMonth: 40, users: 10, stores: 3, menuItems: 4 });

const SESSION = "00000000-0000-4000-8000-0000000beef0";

type Reply = (m: GatewayMessage) => void;

/**
 * A gateway that welcomes (naming `heartbeatMs`; a resume `resumeWelcomeMs` later), beats every
 * `heartbeatMs` during the upload, acks every batch and end-of-stream, and calls `computing`
 * with the connection's number once every end-of-stream is in, or, on a resumed connection,
 * once the client says `resent`. `computing` sends what the scripted pipeline says, heartbeats
 * included.
 */
function scriptedGateway(heartbeatMs: number, computing: (connection: number, reply: Reply, socket: Socket<unknown>) => void, resumeWelcomeMs = 0): { port: number; got: ClientMessage[]; connections: () => number; stop: () => void } {
  const got: ClientMessage[] = [];
  let connections = 0;
  const server = Bun.listen<{ decoder: FrameDecoder; n: number; eos: number; beat: ReturnType<typeof setInterval> | null }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(socket) {
        socket.data = { decoder: new FrameDecoder(64 << 20), n: connections++, eos: 0, beat: null };
      },
      data(socket, bytes) {
        const reply: Reply = (m) => void socket.write(encodeFrame(encodeProtocol(m)));
        const compute = (): void => {
          if (socket.data.beat) clearInterval(socket.data.beat);
          computing(socket.data.n, reply, socket);
        };
        for (const f of socket.data.decoder.push(bytes)) {
          const msg = decodeClientMessage(f);
          got.push(msg);
          if (msg.t === "hello" || msg.t === "resume") {
            setTimeout(() => {
              reply({ t: "welcome", session: SESSION, maxInFlight: 64, resumed: msg.t === "resume", heartbeatMs });
              socket.data.beat = setInterval(() => reply({ t: "heartbeat" }), heartbeatMs);
            }, msg.t === "resume" ? resumeWelcomeMs : 0);
          } else if (msg.t === "resent") compute();
          else if (msg.t === "batch") reply({ t: "ack", entity: msg.entity, seq: msg.seq, rejected: [] });
          else if (msg.t === "eos") {
            reply({ t: "eos-ack", entity: msg.entity });
            if (++socket.data.eos === ENTITIES.length) compute();
          }
        }
      },
      close(socket) {
        if (socket.data.beat) clearInterval(socket.data.beat);
      },
    },
  });
  return { port: server.port, got, connections: () => connections, stop: () => server.stop(true) };
}

/** Every query's result and `done`. */
function finish(reply: Reply): void {
  for (const query of QUERIES) reply({ t: "result", query, chunk: 0, last: true, csv: `${query} header\n${query} row\n` });
  reply({ t: "done" });
}

/**
 * A pipeline that computes for `count` heartbeats, one every `intervalMs` (the i-th, from 1, is
 * `beat(i)`), then answers with every result: a `computing` script for scriptedGateway.
 */
function beatsThenResults(intervalMs: number, count: number, beat: (i: number) => GatewayMessage): (connection: number, reply: Reply) => void {
  return (_n, reply) => {
    let beats = 0;
    const timer = setInterval(() => {
      reply(beat(++beats));
      if (beats === count) {
        clearInterval(timer);
        finish(reply);
      }
    }, intervalMs);
  };
}

function expectResults(dir: string): void {
  for (const q of QUERIES) expect(readFileSync(join(dir, queryFileName(q)), "utf8")).toBe(`${q} header\n${q} row\n`);
}

test("heartbeats keep a computing session alive past --idle-timeout-s, which stretches to three of the gateway's intervals", async () => {
  // Beats every 500 ms against an idle timeout of 300 ms: without the stretch the client would
  // leave between any two beats.
  let beats = 0;
  const gateway = scriptedGateway(500, beatsThenResults(500, 5, (i) => {
    beats = i;
    return { t: "heartbeat" };
  }));
  const out = scratch("client-beat-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true, idleTimeoutMs: 300 }));
    expect(beats).toBe(5);
    expect(gateway.connections()).toBe(1);
    expect(gateway.got.some((m) => m.t === "resume")).toBe(false);
    expectResults(r.dir);
  } finally {
    gateway.stop();
  }
});

test("a gateway silent past --idle-timeout-s with its connection open is left: the client connects again, resumes and completes", async () => {
  // The first connection goes quiet once the upload is in (a host gone without a FIN); the
  // second, a resume, is answered with the results.
  const gateway = scriptedGateway(20, (n, reply) => {
    if (n > 0) finish(reply);
  });
  const out = scratch("client-silent-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true, idleTimeoutMs: 300 }));
    expect(gateway.connections()).toBe(2);
    expect(gateway.got.filter((m) => m.t === "resume")).toMatchObject([{ t: "resume", session: SESSION, eos: expect.arrayContaining([...ENTITIES]) }]);
    expect(r.session).toBe(SESSION);
    expectResults(r.dir);
  } finally {
    gateway.stop();
  }
});

/**
 * Progress as plain log lines on stdout, captured, even when the tests run on a terminal;
 * `restore()` puts stdout and the terminal flag back.
 */
function captureProgressLog(): { text: () => string; restore: () => void } {
  const wasTTY = process.stderr.isTTY;
  Object.defineProperty(process.stderr, "isTTY", { value: false, configurable: true });
  const lines: string[] = [];
  const write = spyOn(process.stdout, "write").mockImplementation((text: string | Uint8Array) => {
    lines.push(String(text));
    return true;
  });
  return {
    text: () => lines.join(""),
    restore: () => {
      write.mockRestore();
      Object.defineProperty(process.stderr, "isTTY", { value: wasTTY, configurable: true });
    },
  };
}

test("losing the gateway and resuming the session are said at once, with the reason and the time it took", async () => {
  const captured = captureProgressLog();
  // The first connection goes quiet once the upload is in; the resume is answered with the results.
  const gateway = scriptedGateway(20, (n, reply) => {
    if (n > 0) finish(reply);
  });
  const out = scratch("client-resume-said-out");
  try {
    // Progress lines far apart: the two lines below come as the events do, not with them.
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: false, progressMs: 60_000, idleTimeoutMs: 300, reconnectTimeoutMs: 30_000 }));
    expectResults(r.dir);
  } finally {
    captured.restore();
    gateway.stop();
  }
  const log = captured.text();
  expect(log).toMatch(new RegExp(`\\] lost the gateway \\(no word from the gateway for 0.3 s in session ${SESSION}\\); resuming session ${SESSION} within 30 s\n`));
  expect(log).toMatch(new RegExp(`\\] resumed session ${SESSION} after \\d+\\.\\d s\n`));
  expect(log.indexOf("resumed session")).toBeGreaterThan(log.indexOf("lost the gateway"));
});

test("a result frame that takes longer than --idle-timeout-s to arrive is not silence: its bytes keep the connection", async () => {
  // The results and `done` trickle in, a tenth every 100 ms: one second for frames the client
  // cannot decode before their last byte, against 300 ms of --idle-timeout-s.
  const gateway = scriptedGateway(20, (_n, _reply, socket) => {
    const messages: GatewayMessage[] = [...QUERIES.map((query): GatewayMessage => ({ t: "result", query, chunk: 0, last: true, csv: `${query} header\n${query} row\n` })), { t: "done" }];
    const bytes = Buffer.concat(messages.map((m) => encodeFrame(encodeProtocol(m))));
    const slice = Math.ceil(bytes.length / 10);
    let at = 0;
    const drip = setInterval(() => {
      socket.write(bytes.subarray(at, at + slice));
      at += slice;
      if (at >= bytes.length) clearInterval(drip);
    }, 100);
  });
  const out = scratch("client-drip-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true, idleTimeoutMs: 300, reconnectTimeoutMs: 2000 }));
    expect(gateway.connections()).toBe(1);
    expectResults(r.dir);
  } finally {
    gateway.stop();
  }
});

test("a resume connection gets its own --idle-timeout-s, not what was left of the old connection's", async () => {
  // The first connection goes quiet after the upload and closes 850 ms later (a gateway
  // restarting); the resume is welcomed 200 ms after it opens. Counted from the old connection's
  // last word, the 1 s of silence would end 150 ms into the new one, before its welcome.
  const gateway = scriptedGateway(20, (n, reply, socket) => {
    if (n === 0) setTimeout(() => socket.end(), 850);
    else finish(reply);
  }, 200);
  const out = scratch("client-fresh-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: true, idleTimeoutMs: 1000 }));
    expect(gateway.connections()).toBe(2);
    expectResults(r.dir);
  } finally {
    gateway.stop();
  }
});

test("a gateway that never welcomes is tried again within --connect-retry-s, then given up on as SESSION_IDLE", async () => {
  let connections = 0;
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void connections++, data() {} } });
  const out = scratch("client-nowelcome-out");
  try {
    const failure = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: server.port, quiet: true, idleTimeoutMs: 200, connectRetryMs: 1000 })).then(() => null, (e: unknown) => e);
    expect(failure).toMatchObject({ code: "SESSION_IDLE", message: "no word from the gateway for 0.2 s (no welcome)" });
    expect(connections).toBeGreaterThan(1);
  } finally {
    server.stop(true);
  }
});

test("heartbeats that say the broker takes no publishes are shown while they come, and their end too", async () => {
  const captured = captureProgressLog();
  const gateway = scriptedGateway(100, beatsThenResults(100, 8, (i) => (i <= 5 ? { t: "heartbeat", brokerHeld: true } : { t: "heartbeat" })));
  const out = scratch("client-held-out");
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: gateway.port, quiet: false, progressMs: 50 }));
    expectResults(r.dir);
  } finally {
    captured.restore();
    gateway.stop();
  }
  const log = captured.text();
  expect(log).toContain("the broker takes no publishes (down or unreachable? a memory or disk alarm? quorum queues without their majority?), waiting; nothing is lost");
  expect(log.indexOf("the gateway no longer says the broker takes no publishes")).toBeGreaterThan(log.indexOf("the broker takes no publishes"));
});
