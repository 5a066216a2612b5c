/**
 * Runs a long synchronous job item by item while letting the event loop run between slices, such
 * as replaying a large write-ahead log at start-up. Without it the process answers no health check
 * until the job ends, and a monitor may take a long replay for a hang and kill it, only for the
 * replay to start over.
 */

/** `each` on every item, yielding a macrotask (timers and sockets run) whenever `sliceMs` of work is spent. */
export async function forEachYielding<T>(items: Iterable<T>, each: (item: T) => void, sliceMs = 50): Promise<void> {
  let sliceStartMs = performance.now();
  for (const item of items) {
    each(item);
    if (performance.now() - sliceStartMs < sliceMs) continue;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    sliceStartMs = performance.now();
  }
}
