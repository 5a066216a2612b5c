import { describe, expect, test } from "bun:test";
import type { BodyKind, BodyOf } from "./bodies.ts";
import type { ItemsBody, TransactionsBody } from "./entityBatch.ts";
import { Rng } from "./generator.ts";
import { packColumn } from "./textColumn.ts";
import { OPERATORS } from "./operators.ts";
import { AGGREGATORS, CHAINS, chainNodes, describeChain, outKey, STAGES, stageByName } from "./topology.ts";
import { chainUnit, stageUnit, type UnitOutput } from "./workUnit.ts";

/** Random transactions around the filters' edges (years, day window, 75.00). */
function randomTransactions(rng: Rng, n: number): TransactionsBody {
  const years = [2023, 2024, 2025, 2026];
  return {
    id: packColumn(Array.from({ length: n }, (_, i) => `t${i}`)),
    store: Int32Array.from({ length: n }, () => 1 + rng.int(5)),
    user: Int32Array.from({ length: n }, () => rng.int(50)),
    cents: Float64Array.from({ length: n }, () => 7400 + rng.int(200)),
    date: Int32Array.from({ length: n }, () => years[rng.int(4)]! * 10000 + (1 + rng.int(12)) * 100 + 1 + rng.int(28)),
    time: Int32Array.from({ length: n }, () => rng.int(86400)),
  };
}

/** Random transaction items around the year filter's edges. */
function randomItems(rng: Rng, n: number): ItemsBody {
  const years = [2023, 2024, 2025, 2026];
  return {
    item: Int32Array.from({ length: n }, () => 1 + rng.int(8)),
    qty: Float64Array.from({ length: n }, () => 1 + rng.int(5)),
    cents: Float64Array.from({ length: n }, () => 100 + rng.int(2000)),
    date: Int32Array.from({ length: n }, () => years[rng.int(4)]! * 10000 + (1 + rng.int(12)) * 100 + 1 + rng.int(28)),
  };
}

/** The same DAG evaluated stage by stage, as split workers would over the broker. */
function split(head: string, body: BodyOf<BodyKind>): Map<string, BodyOf<BodyKind>> {
  const out = new Map<string, BodyOf<BodyKind>>();
  const queue: [string, BodyOf<BodyKind>][] = [[head, body]];
  while (queue.length > 0) {
    const [name, input] = queue.shift()!;
    const [result] = stageUnit(stageByName(name)!).run(input) as [UnitOutput];
    out.set(name, result.body);
    for (const s of STAGES) if (s.inputs.includes(outKey(name))) queue.push([s.name, result.body]);
  }
  return out;
}

describe("chains", () => {
  test("every stage is in exactly one chain, and each chain resolves", () => {
    const members = CHAINS.flatMap((c) => c.stages);
    expect([...members].sort()).toEqual(STAGES.map((s) => s.name).sort());
    for (const c of CHAINS) expect(chainNodes(c)[0]!.from).toBeNull();
  });

  test("a chain's description names every edge of its tree, each member once as a reader", () => {
    for (const c of CHAINS) {
      const edges = describeChain(c).split("; ").flatMap((part) => {
        const [from, to] = part.split(" → ") as [string, string];
        return to.split(", ").map((reader) => `${from}>${reader}`);
      });
      const expected = chainNodes(c).filter((n) => n.from !== null).map((n) => `${n.from}>${n.stage.name}`);
      expect(edges.sort()).toEqual(expected.sort());
    }
    expect(describeChain(CHAINS.find((c) => c.name === "transactions")!)).toContain("filter-year → filter-time, group-q4");
  });

  test("a chain publishes exactly the outputs aggregators consume", () => {
    const consumed = new Set(AGGREGATORS.flatMap((a) => a.inputs));
    for (const c of CHAINS) {
      const published = chainNodes(c).filter((n) => n.external).map((n) => outKey(n.stage.name));
      expect(published).toEqual(c.stages.map(outKey).filter((k) => consumed.has(k)));
    }
  });

  test("fused transactions chain = the stages one by one, on random batches", () => {
    const rng = new Rng(42);
    const unit = chainUnit(CHAINS.find((c) => c.name === "transactions")!);
    expect(unit.queue).toBe("filter-year");
    for (let round = 0; round < 20; round++) {
      const body = randomTransactions(rng, 1 + rng.int(400));
      const fused = unit.run(body);
      const expected = split("filter-year", body);
      expect(fused.map((o) => o.routingKey)).toEqual(["filter-amount.out", "group-q3.out", "group-q4.out"]);
      for (const o of fused) {
        const stage = o.routingKey.slice(0, -".out".length);
        expect(o.body).toEqual(expected.get(stage)!);
        expect(o.bodyKind).toBe(OPERATORS[stageByName(stage)!.operator].output);
      }
    }
  });

  test("a fused chain reports every stage's rows in and out, as the stages run alone would", () => {
    const rng = new Rng(7);
    const body = randomTransactions(rng, 300);
    const fused: [string, number, number][] = [];
    chainUnit(CHAINS.find((c) => c.name === "transactions")!).run(body, (stage, rowsIn, rowsOut) => fused.push([stage, rowsIn, rowsOut]));
    expect(fused.map(([stage]) => stage).sort()).toEqual(["filter-amount", "filter-time", "filter-year", "group-q3", "group-q4"]);
    const bodies = split("filter-year", body);
    for (const [stage, rowsIn, rowsOut] of fused) {
      const source = STAGES.find((s) => s.name === stage)!.inputs[0]!.slice(0, -".out".length);
      const alone: [string, number, number][] = [];
      stageUnit(stageByName(stage)!).run(stage === "filter-year" ? body : bodies.get(source)!, (...r) => alone.push(r));
      expect([stage, rowsIn, rowsOut]).toEqual(alone[0]!);
    }
    expect(fused[0]).toEqual(["filter-year", 300, expect.any(Number)]);
  });

  test("a fused chain also reads each later member's queue, and runs there what a split deployment still had to run on it", () => {
    const rng = new Rng(11);
    const consumed = new Set(AGGREGATORS.flatMap((a) => a.inputs));
    for (const chain of CHAINS) {
      const unit = chainUnit(chain);
      expect(unit.drains.map((d) => d.queue)).toEqual(chain.stages.slice(1));
      for (const drain of unit.drains) {
        expect(drain.drains).toEqual([]);
        // What sits in the member's queue: its source stage's output, as a split worker published it.
        const source = stageByName(drain.queue)!.inputs[0]!.slice(0, -".out".length);
        for (let round = 0; round < 5; round++) {
          const body = chain.name === "transactions" ? randomTransactions(rng, 1 + rng.int(300)) : randomItems(rng, 1 + rng.int(300));
          const bodies = split(chain.stages[0]!, body);
          const outputs = drain.run(bodies.get(source)!);
          // Exactly what split stages from this member down publish for the aggregators, no more.
          const downstream = [...split(drain.queue, bodies.get(source)!).keys()];
          expect(drain.stages).toEqual(chain.stages.filter((s) => downstream.includes(s)));
          expect(outputs.map((o) => o.routingKey)).toEqual(drain.stages.map(outKey).filter((k) => consumed.has(k)));
          for (const o of outputs) expect(o.body).toEqual(bodies.get(o.routingKey.slice(0, -".out".length))!);
        }
      }
    }
  });
});
