/**
 * A Q1 aggregator whose sorted run cannot be written stops with exit 70 (what is durable is
 * unknown) instead of requeueing the batch forever; revived with the disk back, it counts that
 * batch exactly once. Real aggregator processes, real broker, a real file in the spill's way.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AmqpTransport } from "../src/amqpTransport.ts";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { Q1_RUN_ROWS } from "../src/queries/q1.ts";
import { allQueues, eosKey, outKey } from "../src/topology.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { AMQP_URL, coffeeArgv, tempDir, uniqueNamespace } from "./harness.ts";

setDefaultTimeout(60_000);

const namespace = uniqueNamespace("spill");
const state = tempDir("spill");
const session = "00000000-0000-4000-8000-000000005911";
let transport: AmqpTransport | null = null;
const started: Bun.Subprocess[] = [];
afterAll(async () => {
  // A failing run must not leave an aggregator behind.
  for (const p of started) p.kill("SIGKILL");
  await transport?.close();
  await deleteNamespace({ url: AMQP_URL }, namespace).catch(() => {});
  rmSync(state, { recursive: true, force: true });
});

/** Start agg-q1; resolves with the process once its log says it consumes its queue. */
async function startAggregator(): Promise<{ proc: Bun.Subprocess<"ignore", "ignore", "pipe">; stderr: Promise<string> }> {
  const proc = Bun.spawn(coffeeArgv("--role", "aggregator", "--query", "q1", "--state-dir", state, "--namespace", namespace), {
    env: { ...process.env, AMQP_URL } as Record<string, string>, stdin: "ignore", stdout: "ignore", stderr: "pipe",
  });
  started.push(proc);
  let text = "";
  const { promise: ready, resolve: consuming } = Promise.withResolvers<void>();
  const stderr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("consuming")) consuming();
    }
    return text;
  })();
  await Promise.race([ready, proc.exited.then(() => { throw new Error(`agg-q1 exited before consuming:\n${text}`); })]);
  return { proc, stderr };
}

test("a failed spill exits 70 and loses nothing: after the revival the batch counts once", async () => {
  transport = await AmqpTransport.open({
    broker: { url: AMQP_URL }, namespace, queueType: "classic", maxUnconfirmed: 64, reconnectInitialMs: 100, reconnectMaxMs: 1000, onEvent: () => {}, onError: () => {},
  });
  await transport.declare(allQueues());
  const results: string[] = [];
  const { promise: complete, resolve: lastChunk } = Promise.withResolvers<void>();
  await transport.consume("results", { prefetch: 8, concurrent: false }, (d) => {
    const m = decodeMessage(d.body);
    if (m.kind === "result" && m.session === session) {
      results[m.chunk] = m.csv;
      if (m.last) lastChunk();
    }
    d.ack();
  });

  const first = await startAggregator();
  // Where this session's runs go is a regular file: the first run cannot be written.
  mkdirSync(join(state, "agg-q1", "spill"), { recursive: true });
  writeFileSync(join(state, "agg-q1", "spill", session), "in the way");
  const rows = Q1_RUN_ROWS;
  const batch = q1TransactionsBatch(session, rows);
  await transport.publish(outKey("filter-amount"), encodeMessage(batch));
  expect(await first.proc.exited).toBe(70);
  expect(await first.stderr).toContain("spilled run failure, exiting: WAL_IO_FAILED: writing sorted run");

  // The disk is back; the revived aggregator gets the unacknowledged batch again.
  rmSync(join(state, "agg-q1", "spill", session));
  const second = await startAggregator();
  await transport.publish(eosKey("transactions"), encodeMessage({ kind: "eos", session, entity: "transactions", count: 1 }));
  await complete;
  const lines = results.join("").trimEnd().split("\n");
  expect(lines[0]).toBe("transaction_id,final_amount");
  expect(lines).toHaveLength(1 + rows);
  expect(new Set(lines).size).toBe(lines.length);
  second.proc.kill("SIGTERM");
  await second.proc.exited;
});
