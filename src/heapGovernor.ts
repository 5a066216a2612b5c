/**
 * Keeps a process's JavaScript heap near a soft limit. JSC collects when allocation pressure says
 * so, and a process that streams batches leaves most of each one behind as garbage: without a
 * nudge a worker's heap (and RSS) sits at two to three times its live data. Every `intervalMs`
 * the governor compares the heap with the limit and, when above, runs a full collection, which
 * is cheap when nearly everything is garbage; then it waits for the heap to grow by half of what
 * survived before collecting again.
 */
import { heapSize } from "bun:jsc";
import type { OptionSpec } from "./options.ts";

/** `--heap-limit-mb`, shared by every role that streams batches. */
export const HEAP_LIMIT_OPTION: OptionSpec = {
  name: "heap-limit-mb", type: "int", env: "COFFEE_HEAP_LIMIT_MB", default: 64, min: 0, max: 65_536,
  help: "soft limit of the JavaScript heap: above it a full garbage collection runs (0 = leave it to the runtime)",
};

/** A running governor. */
export interface HeapGovernor {
  /** Collections it forced so far. */
  readonly collections: number;
  stop(): void;
}

/** Start a governor; a limit of 0 disables it. */
export function startHeapGovernor(limitMb: number, intervalMs = 250): HeapGovernor {
  let collections = 0;
  const limit = limitMb * 1_048_576;
  // The next collection waits until the heap has grown half again past what the last one kept:
  // a process whose live data is above the limit (an aggregator's state, say) is not collected
  // four times a second for nothing.
  let threshold = limit;
  const timer = limitMb > 0 ? setInterval(() => {
    if (heapSize() <= threshold) return;
    Bun.gc(true);
    collections++;
    threshold = Math.max(limit, heapSize() * 1.5);
  }, intervalMs) : null;
  timer?.unref();
  return {
    get collections() { return collections; },
    stop: () => { if (timer) clearInterval(timer); },
  };
}
