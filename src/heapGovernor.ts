/**
 * Keeps a process's memory near a soft limit by collecting garbage early. A process that streams
 * batches leaves nearly all of each one behind as garbage, and much of it sits in buffers the
 * runtime allocates outside the JavaScript heap (socket reads, amqplib's frames), which the
 * engine's own collection trigger does not see. Left alone, a worker's RSS reached 200 MB with a
 * few MB of live data, and it never shrinks again (freed memory stays with the process, see
 * allocatorTuning.ts). So the governor counts the heap plus the bytes of batches that passed
 * since the last collection; above the limit it runs a full collection, which is cheap when
 * nearly everything is garbage, then waits for the heap to grow by half of what survived. It is
 * checked on every publish and delivery (a process moving 100 MB/s overshoots any timer), on
 * every frame the gateway receives (most of its garbage), and by a timer; a process that does
 * not report its batches (the client) has the timer alone.
 */
import { fullGC, heapSize } from "bun:jsc";
import type { OptionSpec } from "./options.ts";
import { decoratedTransport, type Transport } from "./transport.ts";

/** `--heap-limit-mb`, shared by every role that streams batches. */
export const HEAP_LIMIT_OPTION: OptionSpec = {
  name: "heap-limit-mb", type: "int", env: "COFFEE_HEAP_LIMIT_MB", default: 16, min: 0, max: 65_536,
  help: "soft limit of the JavaScript heap plus the batches that passed since the last collection: above it a full garbage collection runs (0 = leave it to the runtime)",
};

/** A running governor. */
export interface HeapGovernor {
  /** Collections it forced so far. */
  readonly collections: number;
  /** Count `bytes` of a batch that passed, then collect if above the threshold (tens of µs otherwise). */
  check(bytes?: number): void;
  /** Stop the timer; `check` still works. */
  stop(): void;
}

/** Start a governor; a limit of 0 disables it. */
export function startHeapGovernor(limitMb: number, intervalMs = 250): HeapGovernor {
  let collections = 0;
  const limit = limitMb * 1_048_576;
  // The next collection waits until the heap has grown half again past what the last one kept:
  // a process whose live data is above the limit (an aggregator's state, say) is not collected
  // after every batch for nothing.
  let threshold = limit;
  let passed = 0;
  const check = (bytes = 0): void => {
    passed += bytes;
    if (limit === 0 || heapSize() + passed <= threshold) return;
    // fullGC collects and nothing else; Bun.gc(true) also drops caches, ~25 % dearer per call here.
    fullGC();
    collections++;
    passed = 0;
    threshold = Math.max(limit, heapSize() * 1.5);
  };
  const timer = limit > 0 ? setInterval(() => check(), intervalMs) : null;
  timer?.unref();
  return {
    get collections() { return collections; },
    check,
    stop: () => { if (timer) clearInterval(timer); },
  };
}

/**
 * A transport whose every delivery and publish is counted by the governor first; the rest,
 * optional capabilities included, passes through (decoratedTransport).
 */
export function governedTransport(transport: Transport, governor: HeapGovernor): Transport {
  return decoratedTransport(transport, {
    async publish(routingKey, body) {
      governor.check(body.length);
      return transport.publish(routingKey, body);
    },
    consume(queue, options, handler) {
      return transport.consume(queue, options, (d) => {
        governor.check(d.body.length);
        return handler(d);
      });
    },
  });
}
