import { expect, test } from "bun:test";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { InternalError } from "./errors.ts";
import { IN_PROCESS_TUNING, inProcessTuningFromEnv, startInProcessCluster } from "./inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "./memoryTransport.ts";
import type { Transport } from "./transport.ts";

test("a role whose run() ends is reported with its error; the others' ends at shutdown too", async () => {
  const broker = new MemoryBroker();
  const broken = (base: Transport): Transport => ({
    declare: (q) => base.declare(q),
    consume: () => Promise.reject(new InternalError("consumer refused")),
    close: () => base.close(),
    publish: (k, body) => base.publish(k, body),
  });
  const stopped: [string, unknown][] = [];
  const { promise: q2Stopped, resolve: reported } = Promise.withResolvers<void>();
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), new Map(),
    (name) => (name === "agg-q2" ? broken(new MemoryTransport(broker, "ipc")) : new MemoryTransport(broker, "ipc")), true, "fused",
    (name, err) => {
      stopped.push([name, err]);
      if (name === "agg-q2") reported();
    });
  try {
    await q2Stopped;
    expect(stopped).toHaveLength(1);
    expect(stopped[0]![1]).toBeInstanceOf(InternalError);
  } finally {
    await cluster.shutdown();
  }
  // Every other role's run() has returned once shutdown resolves, with no error.
  const names = cluster.roles.map((r) => r.name).filter((n) => n !== "agg-q2");
  for (const n of names) expect(stopped.find(([s]) => s === n)).toEqual([n, null]);
});

test("in-process tuning: the roles' variables as the roles read them, in-process defaults where unset or empty", () => {
  expect(inProcessTuningFromEnv({})).toEqual(IN_PROCESS_TUNING);
  expect(inProcessTuningFromEnv({ COFFEE_PREFETCH: "" })).toEqual(IN_PROCESS_TUNING);
  expect(inProcessTuningFromEnv({ COFFEE_PREFETCH: "3", COFFEE_CHUNK_BYTES: "4096" })).toEqual({ workerPrefetch: 3, aggregatorPrefetch: 3, chunkBytes: 4096 });
  expect(() => inProcessTuningFromEnv({ COFFEE_CHUNK_BYTES: "5" })).toThrow("COFFEE_CHUNK_BYTES must be >= 1024, got 5");
});
