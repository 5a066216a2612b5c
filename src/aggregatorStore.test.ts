import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AggregatorState } from "./aggregatorState.ts";
import { AggregatorStore } from "./aggregatorStore.ts";
import { decodeMessage, encodeMessage, type BrokerMessage } from "./codec.ts";
import { q3Reducer } from "./queries/q3.ts";

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), "coffee-agg-")); dirs.push(d); return d; };

const stores = (session: string): BrokerMessage => ({ kind: "data", session, entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1, 2), name: ["Centro", "Norte, 2"] } });
const partial = (session: string, seq: number, cents: number): BrokerMessage => ({
  kind: "data", session, entity: "transactions", seq, bodyKind: "q3-partial",
  body: { half: Int32Array.of(20241, 20242), store: Int32Array.of(1, 2), cents: Float64Array.of(cents, cents * 2) },
});
const eos = (session: string, entity: "stores" | "transactions", count: number): BrokerMessage => ({ kind: "eos", session, entity, count });

/** Apply and log like the aggregator role does, then make it durable. */
async function feed(store: AggregatorStore, msgs: BrokerMessage[]): Promise<string[]> {
  const effects: string[] = [];
  for (const m of msgs) {
    const raw = encodeMessage(m);
    const effect = store.state.apply(decodeMessage(raw));
    if (effect === "applied" || effect === "purged") store.logMessage(raw);
    effects.push(effect);
  }
  await store.commit();
  return effects;
}

describe("aggregator store", () => {
  test("a snapshot of open sessions holds their state, not their messages, and recovery is exact", async () => {
    const dir = tempDir();
    const first = (await AggregatorStore.open(dir, q3Reducer, 3)).store;
    await feed(first, [stores("A"), partial("A", 0, 1000), partial("A", 1, 250), partial("B", 0, 7)]);
    expect(await first.maybeSnapshot()).toBe(true);
    await feed(first, [partial("A", 2, 5), eos("A", "stores", 1)]);
    await first.close();

    // Recovered from snapshot + the two records after it.
    const { store: again, replayed } = await AggregatorStore.open(dir, q3Reducer, 3);
    expect(replayed).toBe(2);
    // Redeliveries of batches applied before and after the snapshot are duplicates.
    expect(await feed(again, [partial("A", 1, 250), partial("A", 2, 5), partial("B", 0, 7)])).toEqual(["duplicate", "duplicate", "duplicate"]);
    await feed(again, [eos("A", "transactions", 3)]);
    expect(again.state.isComplete("A")).toBe(true);
    expect(again.state.isComplete("B")).toBe(false);

    // The same messages folded in memory, never snapshotted, give the same result.
    const plain = new AggregatorState(q3Reducer);
    for (const m of [stores("A"), partial("A", 0, 1000), partial("A", 1, 250), partial("A", 2, 5), eos("A", "stores", 1), eos("A", "transactions", 3)]) plain.apply(m);
    expect(again.state.result("A")).toEqual(plain.result("A"));
    expect(again.state.result("A").join("")).toBe("year_half_created_at,store_name,tpv\n2024-H1,Centro,12.55\n2024-H2,\"Norte, 2\",25.1\n");
    await again.close();
  });

  test("finished sessions stay ended across a snapshot: their late messages are dropped", async () => {
    const dir = tempDir();
    const s = (await AggregatorStore.open(dir, q3Reducer, 1)).store;
    await feed(s, [stores("C"), partial("C", 0, 100), eos("C", "stores", 1), eos("C", "transactions", 1)]);
    s.state.markFinished("C");
    s.logFinished("C");
    await s.commit();
    expect(await s.maybeSnapshot()).toBe(true);
    await s.close();
    const again = (await AggregatorStore.open(dir, q3Reducer, 1)).store;
    expect(await feed(again, [partial("C", 0, 100)])).toEqual(["ended"]);
    await again.close();
  });
});
