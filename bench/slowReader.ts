/**
 * The gateway's memory while its client reads no results. Starts `coffee up` and one client that
 * talks to the gateway through a proxy in this script. The proxy passes the upload and the
 * gateway's replies until the client has sent the transactions' end-of-stream (Q1, the largest
 * result, needs nothing else), then stops reading from the gateway, so Q1's results back up
 * into the gateway as behind a client that stopped reading. Once Q1 is published and the
 * gateway has stored every chunk, the proxy reads again and the client finishes. Prints the
 * gateway's RSS until the hold, its peak during it, and the bytes in its result spool (which
 * keeps every chunk of an open session, sent or not).
 *
 *   bun bench/slowReader.ts --data DIR [--work /tmp/coffee-bench-slow]
 *
 * Without the spool and the outbox bound, every waiting result would be in the gateway's memory.
 * What the kernel's socket buffers between the gateway and the proxy take (up to
 * net.ipv4.tcp_wmem's maximum at the gateway, plus the proxy's receive buffer) is not in the
 * gateway's memory either. The hold must end within the gateway's --idle-timeout-s (120 s);
 * the client is given 300 s of silence, since heartbeats are held too.
 */
import type { Socket } from "bun";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readClusterFile } from "../src/clusterPlan.ts";
import { FrameDecoder, encodeFrame } from "../src/frame.ts";
import { freeTcpPort } from "../src/ports.ts";
import { decodeClientMessage, decodeGatewayMessage } from "../src/protocol.ts";
import { SocketWriter } from "../src/socketWriter.ts";
import { AGGREGATORS, RESULTS_KEY } from "../src/topology.ts";
import { scrape, total } from "../test/promText.ts";
import { coffeeBin, installSignalCleanup, memoryMb, run, startUp, stopLive } from "./procStats.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, { data: { type: "string" }, work: { type: "string", default: "/tmp/coffee-bench-slow" } });
const fail = (msg: string): never => { console.error(`slowReader: ${msg}`); process.exit(2); };
const data = values.data ? resolve(values.data) : fail("--data DIR (an existing dataset folder) is required");
const work = resolve(values.work);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
installSignalCleanup();

const bin = coffeeBin();
const port = freeTcpPort();
const stateDir = join(work, "state");
// A namespace of its own: a cluster left over from another run must not share its queues.
await startUp(bin, ["up", "--transport", "amqp", "--state-dir", stateDir, "--port", String(port), "--namespace", `benchslow${process.pid}x${port}`,
  "--monitors", "1", "--delete-on-exit"], join(work, "up.log"));
const procs = readClusterFile(join(stateDir, "cluster.json"));
const gateway = procs.find((p) => p.role === "gateway")!;

const spoolMb = (): number => {
  const dir = join(stateDir, "gateway", "results");
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0) / 1_048_576;
};

// ---- the proxy: client ⇄ proxy ⇄ gateway. Each direction is paused while the other side's
// queue is over its mark (backpressure), and the gateway's side is held from the moment the
// client sends the transactions' end-of-stream until `release`.
let holding: (() => void) | null = null;
const holdStarted = new Promise<void>((r) => (holding = r));
const { promise: released, resolve: release } = Promise.withResolvers<void>();
/** Frames read from the gateway while held (a pause takes effect between reads). */
let heldFrames: Uint8Array[] | null = null;
let resultBytesPassed = 0;
type Side = { peer: Socket<Side> | null; writer: SocketWriter; pending: Uint8Array[]; closed: boolean };

/** Stop reading the gateway's side of `client`'s connection until `release`. */
function hold(client: Socket<Side>): void {
  const upstream = client.data.peer;
  if (!holding || !upstream) return;
  holding();
  holding = null;
  upstream.pause();
  heldFrames = [];
  void released.then(() => {
    for (const f of heldFrames!.splice(0)) client.data.writer.write(f);
    heldFrames = null;
    if (client.data.writer.hasRoom) upstream.resume();
  });
}

const proxy = Bun.listen<Side>({
  hostname: "127.0.0.1", port: 0,
  socket: {
    async open(client) {
      client.data = { peer: null, writer: new SocketWriter(client), pending: [], closed: false };
      const decoder = new FrameDecoder(64 << 20);
      const upstream = await Bun.connect<Side>({
        hostname: "127.0.0.1", port,
        socket: {
          open(gw) {
            gw.data = { peer: client, writer: new SocketWriter(gw), pending: [], closed: false };
          },
          data(gw, bytes) {
            for (const frame of decoder.push(bytes)) {
              const out = encodeFrame(frame);
              if (heldFrames) {
                heldFrames.push(out);
                continue;
              }
              client.data.writer.write(out);
              if (decodeGatewayMessage(frame).t === "result") resultBytesPassed += frame.length;
            }
            if (!client.data.writer.hasRoom) gw.pause();
          },
          drain(gw) {
            gw.data.writer.drain();
            if (gw.data.writer.hasRoom) client.resume();
          },
          // What is still queued for the client goes first (the gateway's `done` among it).
          close() { void client.data.writer.end(); },
          error() { void client.data.writer.end(); },
        },
      });
      client.data.peer = upstream;
      if (client.data.closed) return void upstream.end();
      for (const f of client.data.pending.splice(0)) upstream.data.writer.write(f);
    },
    data(client, bytes) {
      // The upload passes frame by frame, read to find the transactions' end-of-stream; the
      // transaction_items the client sends after it still pass while the gateway's side is held.
      const upstream = client.data.peer;
      for (const frame of upDecoder(client).push(bytes)) {
        const out = encodeFrame(frame);
        if (upstream) upstream.data.writer.write(out);
        else client.data.pending.push(out);
        const msg = decodeClientMessage(frame);
        if (msg.t === "eos" && msg.entity === "transactions") hold(client);
      }
      if (upstream && !upstream.data.writer.hasRoom) client.pause();
    },
    drain(client) {
      client.data.writer.drain();
      if (client.data.writer.hasRoom && !heldFrames) client.data.peer?.resume();
    },
    close(client) {
      client.data.closed = true;
      if (client.data.peer) void client.data.peer.data.writer.end();
    },
    error(client) {
      client.data.closed = true;
      if (client.data.peer) void client.data.peer.data.writer.end();
    },
  },
});
const upDecoders = new WeakMap<object, FrameDecoder>();
function upDecoder(client: object): FrameDecoder {
  let d = upDecoders.get(client);
  if (!d) upDecoders.set(client, (d = new FrameDecoder(64 << 20)));
  return d;
}

let peakBefore = 0;
let peakHeld = { rss: 0, anon: 0, file: 0 };
let phase = "upload" as "upload" | "held" | "done";
const sampler = (async () => {
  for (; phase !== "done"; await Bun.sleep(100)) {
    // A sampling period, not a wait for an event.
    const now = memoryMb(gateway.pid!);
    if (!now) break;
    if (phase === "upload") peakBefore = Math.max(peakBefore, now.rss);
    else if (now.rss > peakHeld.rss) peakHeld = now;
  }
})();

/** The measurement; throws on any failure, so the cluster is always stopped below. */
async function measure(): Promise<void> {
  // The hold starves the client of heartbeats too: it must not take the gateway for lost meanwhile.
  const clientRun = run(bin, ["--role", "client", "--data", data, "--out", join(work, "out"), "--gateway", `127.0.0.1:${proxy.port}`, "--quiet", "--idle-timeout-s", "300"]);
  // run() rejects when the client fails; a client that finishes before the hold is a failure too.
  await Promise.race([holdStarted, clientRun.then(() => { if (holding) throw new Error("the client finished without sending the transactions' end-of-stream"); })]);
  phase = "held";
  const heldAt = performance.now();
  console.log(`proxy holding the gateway's side from the transactions' end-of-stream on (${(resultBytesPassed / 1_048_576).toFixed(1)} MB of results had passed); gateway RSS until then at most ${peakBefore} MB`);

  // Q1 (the largest result) published, and the gateway has taken and acked, so stored, every
  // chunk published so far. The items upload goes on meanwhile, but its acks are held too.
  for (;; await Bun.sleep(100)) { // polled: the cluster announces nothing to this script
    const aggregators = await Promise.all(AGGREGATORS.map(async (a) => scrape(procs.find((p) => p.name === a.queue)!.metricsPort!)));
    const chunks = aggregators.reduce((sum, m) => sum + total(m, "coffee_messages_published_total", { routing_key: RESULTS_KEY }), 0);
    const metrics = await scrape(gateway.metricsPort!);
    const taken = total(metrics, "coffee_deliveries_total", { queue: "results" });
    const acked = total(metrics, "coffee_acks_total", { queue: "results" });
    const q1 = aggregators[AGGREGATORS.findIndex((a) => a.query === "q1")]!;
    if (total(q1, "coffee_sessions_finished_total") >= 1 && acked === chunks && taken === chunks) break;
    if (performance.now() - heldAt > 90_000) throw new Error(`Q1's results were not all stored within 90 s (chunks published ${chunks}, gateway took ${taken} and acked ${acked})`);
  }
  console.log(`Q1's results stored during the hold (${((performance.now() - heldAt) / 1000).toFixed(1)} s): ${spoolMb().toFixed(1)} MB of results in the spool (stored there whether sent or not); gateway peak RSS meanwhile ${peakHeld.rss} MB (${peakHeld.anon} MB anonymous)`);
  release();
  await clientRun;
  const session = readdirSync(join(work, "out"))[0]!;
  console.log(`client finished after the hold (exit 0); its query1.csv is ${(statSync(join(work, "out", session, "query1.csv")).size / 1_048_576).toFixed(1)} MB`);
}

let failed = false;
try {
  await measure();
} catch (err) {
  console.error(`slowReader: ${err instanceof Error ? err.message : String(err)}`);
  failed = true;
} finally {
  release();
  phase = "done";
  await sampler;
  proxy.stop(true);
  await stopLive();
}
process.exit(failed ? 1 : 0);
