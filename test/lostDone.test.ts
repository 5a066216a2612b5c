/**
 * `done` written is not `done` received: a client whose connection drops after the gateway sent
 * `done`, but before the client had every result, resumes and gets them again; the gateway
 * forgets the session only at the client's `bye`. Real roles in-process, real TCP through a
 * proxy that loses the end of the first connection, memory broker.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster, type InProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import { gatewayProxy } from "./gatewayProxy.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);

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
  // The first connection loses every q1 result, and is cut where `done` would have come.
  const proxy = gatewayProxy(cluster.gatewayPort(), (msg) => (msg.t === "done" ? "cut" : msg.t === "result" && msg.query === "q1" ? "drop" : "pass"));
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
