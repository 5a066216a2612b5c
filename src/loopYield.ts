/**
 * Lets the event loop run between slices of a long synchronous job, such as replaying a large
 * write-ahead log at start-up. Without it the process answers no health check until the job ends,
 * and a monitor may take a long replay for a hang and kill it, only for the replay to start over.
 */
export class LoopYield {
  private sliceStartMs = performance.now();

  /** `sliceMs`: how long the job may hold the loop between two yields. */
  constructor(private readonly sliceMs = 50) {}

  /** Call between steps of the job: yields (a macrotask: timers and sockets run) once the slice is spent. */
  async step(): Promise<void> {
    if (performance.now() - this.sliceStartMs < this.sliceMs) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.sliceStartMs = performance.now();
  }
}
