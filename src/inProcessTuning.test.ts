import { expect, test } from "bun:test";
import { IN_PROCESS_TUNING, inProcessTuningFromEnv } from "./inProcessCluster.ts";

test("in-process tuning: the roles' variables as the roles read them, in-process defaults where unset or empty", () => {
  expect(inProcessTuningFromEnv({})).toEqual(IN_PROCESS_TUNING);
  expect(inProcessTuningFromEnv({ COFFEE_PREFETCH: "" })).toEqual(IN_PROCESS_TUNING);
  expect(inProcessTuningFromEnv({ COFFEE_PREFETCH: "3", COFFEE_CHUNK_BYTES: "4096" })).toEqual({ workerPrefetch: 3, aggregatorPrefetch: 3, chunkBytes: 4096 });
  expect(() => inProcessTuningFromEnv({ COFFEE_CHUNK_BYTES: "5" })).toThrow("COFFEE_CHUNK_BYTES must be >= 1024, got 5");
});
