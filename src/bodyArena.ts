/**
 * Typed-array columns carved out of one reused buffer. The gateway types every client batch into
 * fresh columns that live only until the batch is encoded; allocating them anew per batch left
 * hundreds of KiB of garbage per batch for the allocator to hold (bench/README.md, gateway memory).
 */

/** Where a batch body's typed-array columns come from. */
export interface ColumnAllocator {
  /** `n` entries; only fresh allocators promise zeros. */
  int32(n: number): Int32Array;
  float64(n: number): Float64Array;
}

/** Fresh arrays: for bodies that outlive the call that made them. */
export const FRESH_COLUMNS: ColumnAllocator = {
  int32: (n) => new Int32Array(n),
  float64: (n) => new Float64Array(n),
};

/**
 * A bump allocator over one growing buffer. Columns handed out stay valid only until the next
 * `reset()`, which the owner calls before typing its next batch: nothing may keep them.
 */
export class BodyArena implements ColumnAllocator {
  private buffer: ArrayBuffer;
  private used = 0;

  constructor(initialBytes = 1 << 20) {
    this.buffer = new ArrayBuffer(initialBytes);
  }

  /** Hand out the whole buffer again; every column handed out before is dead. */
  reset(): void {
    this.used = 0;
  }

  /** Bytes the arena holds (its one buffer). */
  get capacity(): number {
    return this.buffer.byteLength;
  }

  /** `n` Int32 entries holding whatever the last batch left: the caller writes every one it keeps. */
  int32(n: number): Int32Array {
    const at = this.take(n * 4); // first: taking may replace the buffer
    return new Int32Array(this.buffer, at, n);
  }

  /** `n` Float64 entries holding whatever the last batch left: the caller writes every one it keeps. */
  float64(n: number): Float64Array {
    const at = this.take(n * 8);
    return new Float64Array(this.buffer, at, n);
  }

  /** Offset of `bytes` fresh bytes, 8-aligned so any typed array fits. */
  private take(bytes: number): number {
    const at = (this.used + 7) & ~7;
    if (at + bytes > this.buffer.byteLength) {
      // Columns already handed out keep the old buffer alive until they die; the next batch
      // starts in the larger one, which is kept from then on.
      this.buffer = new ArrayBuffer(Math.max(2 * this.buffer.byteLength, 2 * (at + bytes)));
      this.used = bytes;
      return 0;
    }
    this.used = at + bytes;
    return at;
  }
}
