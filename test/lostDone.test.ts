/**
 * `done` written is not `done` received: a client whose connection drops after the gateway sent
 * `done`, but before the client had every result, resumes and gets them again; the gateway
 * forgets the session only at the client's `bye`. Real roles in-process, real TCP through a
 * proxy that loses the end of the first connection, memory broker.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import type { Socket, TCPSocketListener } from "bun";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster, type InProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { decodeGatewayMessage } from "../src/protocol.ts";
import { computeReference } from "../src/reference.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);

interface Pipe { peer: Socket<Pipe> | null; pending: Uint8Array[]; first: boolean; decoder: FrameDecoder }

/** Write what the socket takes, queue the rest for its drain. */
function forward(to: Socket<Pipe>, bytes: Uint8Array): void {
  const queue = to.data.pending;
  if (queue.length > 0) return void queue.push(bytes);
  const n = to.write(bytes);
  if (n < bytes.length) queue.push(bytes.subarray(n));
}

function drain(s: Socket<Pipe>): void {
  const queue = s.data.pending;
  while (queue.length > 0) {
    const head = queue[0]!;
    const n = s.write(head);
    if (n < head.length) {
      queue[0] = head.subarray(n);
      return;
    }
    queue.shift();
  }
}

/**
 * A TCP proxy to `upstreamPort`. On the first connection it drops every q1 result and, when
 * `done` comes, cuts the connection instead of passing it on; later connections pass as they are.
 */
function lossyProxy(upstreamPort: number): TCPSocketListener<Pipe> {
  let connections = 0;
  return Bun.listen<Pipe>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      async open(client) {
        client.data = { peer: null, pending: [], first: connections++ === 0, decoder: new FrameDecoder(64 << 20) };
        const upstream = await Bun.connect<Pipe>({
          hostname: "127.0.0.1", port: upstreamPort,
          data: { peer: client, pending: [], first: client.data.first, decoder: new FrameDecoder(64 << 20) },
          socket: {
            data(up, bytes) {
              if (!up.data.first) return forward(client, bytes);
              for (const payload of up.data.decoder.push(bytes)) {
                const msg = decodeGatewayMessage(payload);
                if (msg.t === "done") {
                  client.terminate();
                  up.terminate();
                  return;
                }
                if (msg.t === "result" && msg.query === "q1") continue;
                forward(client, encodeFrame(payload));
              }
            },
            drain,
            close() { client.end(); },
            error() { client.end(); },
          },
        });
        client.data.peer = upstream;
        for (const bytes of client.data.pending.splice(0)) forward(upstream, bytes);
      },
      data(client, bytes) {
        if (client.data.peer) forward(client.data.peer, bytes);
        else client.data.pending.push(bytes.slice());
      },
      drain,
      close(client) { client.data.peer?.end(); },
      error(client) { client.data.peer?.end(); },
    },
  });
}

let cluster: InProcessCluster;
let data: string;
let expected: Record<string, string>;
const dirs: string[] = [];

beforeAll(async () => {
  data = tempDir("lostdone");
  dirs.push(data);
  await generateDataset({ out: data, seed: 33, months: parseMonthRange("2024-05..2024-05"), transactionsPerMonth: 300, users: 80, stores: 6, menuItems: 8 });
  expected = (await computeReference(data)).queries;
  const broker = new MemoryBroker();
  cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), new Map(), () => new MemoryTransport(broker, "lostdone"), true);
});

afterAll(async () => {
  await cluster?.shutdown();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a client that lost results and `done` with its connection resumes and gets them again", async () => {
  const proxy = lossyProxy(cluster.gatewayPort());
  const out = tempDir("lostdoneout");
  dirs.push(out);
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: proxy.port, quiet: true }));
    expect(readResults(r.dir)).toEqual(expected);
    // The client's bye lets the gateway forget the session and its stored results.
    const gateway = cluster.roles.find((x) => x.role === "gateway")!.instance;
    const deadline = performance.now() + 10_000;
    while (gateway.status().awaitingBye !== 0 && performance.now() < deadline) await Bun.sleep(10);
    expect(gateway.status()).toMatchObject({ sessions: 0, awaitingBye: 0, sessionsFinished: 1, sessionsResumed: 1 });
  } finally {
    proxy.stop(true);
  }
});
