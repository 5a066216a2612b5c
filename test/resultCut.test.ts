/**
 * The gateway knows a result chunk by its index. An aggregator killed while publishing a result,
 * and restarted with another --chunk-bytes, must publish the very chunks it began with: cut
 * anew, the chunks the gateway already holds would overlap the new ones or leave a gap. Real
 * aggregators in-process on one state directory; the first is abandoned mid-publish, as a
 * SIGKILL would leave it.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAggregator } from "../roles/aggregator.ts";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { Logger } from "../src/log.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { allQueues, eosKey, outKey, RESULTS_KEY } from "../src/topology.ts";
import { q1TransactionsBatch } from "./brokerMessages.ts";
import { interceptPublishes } from "./interceptedTransport.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const session = "00000000-0000-4000-8000-0000000c0c07";
const stateDir = mkdtempSync(join(tmpdir(), "coffee-cut-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** A memory broker whose result publishes are recorded by chunk index; `confirm` decides which the broker confirms. */
async function resultBroker(confirm: (chunk: number) => boolean, onChunk: (chunks: ReadonlyMap<number, { csv: string; last: boolean }>) => void): Promise<{ base: MemoryTransport; transport: ReturnType<typeof interceptPublishes>; chunks: Map<number, { csv: string; last: boolean }> }> {
  const base = new MemoryTransport(new MemoryBroker(), "cut");
  await base.declare(allQueues());
  const chunks = new Map<number, { csv: string; last: boolean }>();
  const transport = interceptPublishes(base, RESULTS_KEY, (body) => {
    const m = decodeMessage(body);
    if (m.kind !== "result") return Promise.resolve();
    chunks.set(m.chunk, { csv: m.csv, last: m.last });
    onChunk(chunks);
    // Unconfirmed: the publish hangs, as it does for a process about to be killed.
    return confirm(m.chunk) ? Promise.resolve() : new Promise<void>(() => {});
  });
  return { base, transport, chunks };
}

test("a result republished after a crash is cut where its first publish was, whatever --chunk-bytes says now", async () => {
  // First life: 256-byte chunks; the broker confirms chunks 0-2, then the process "dies".
  const fourth = Promise.withResolvers<void>();
  const first = await resultBroker((chunk) => chunk < 3, (chunks) => chunks.has(3) && fourth.resolve());
  const dying = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 256, stateDir }, first.transport, quiet);
  void dying.run();
  await first.base.publish(outKey("filter-amount"), encodeMessage(q1TransactionsBatch(session, 2_000)));
  await first.base.publish(eosKey("transactions"), encodeMessage({ kind: "eos", session, entity: "transactions", count: 1 }));
  await fourth.promise;
  // Never shut down: its log stays as it was when chunk 3 went out unconfirmed.

  // Second life on the same log, told to cut at 4 KiB: it republishes the session on start.
  const lastChunk = Promise.withResolvers<void>();
  const second = await resultBroker(() => true, (chunks) => [...chunks.values()].some((c) => c.last) && lastChunk.resolve());
  const revived = await createAggregator({ query: "q1", prefetch: 8, chunkBytes: 4096, stateDir }, second.transport, quiet);
  const running = revived.run();
  await lastChunk.promise;
  await revived.shutdown();
  await running;

  // Every chunk the first life published is published again, byte for byte, at the same index,
  // so a gateway holding chunks 0-2 from the first life and the rest from the second writes the
  // whole result, each line once; and the rest is cut at the same 256 bytes.
  expect(second.chunks.size).toBeGreaterThan(first.chunks.size);
  for (const [i, c] of first.chunks) expect(second.chunks.get(i)).toEqual(c);
  for (const [i, c] of second.chunks) if (!c.last) expect(c.csv.length, `chunk ${i}`).toBeLessThan(256 + 80);
});
