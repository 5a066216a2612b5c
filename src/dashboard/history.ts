/** Per-second rates of a growing counter (the gateway's rows), kept for a bounded window. */

/** Rates derived from samples of a counter, oldest first, at most `capacity` of them. */
export class RateHistory {
  private readonly rates: (number | null)[] = [];
  private last: { atMs: number; value: number } | null = null;

  /** @param capacity rates kept (samples per window, e.g. 300 for 5 minutes at one per second) */
  constructor(readonly capacity: number) {}

  /**
   * Record the counter's value at `atMs`; null when the source did not answer (a gap). A rate
   * spans back to the last answered sample, so a gap does not show as a burst afterwards.
   */
  add(atMs: number, value: number | null): void {
    let rate: number | null = null;
    if (value !== null) {
      if (this.last && atMs > this.last.atMs) {
        // A smaller value means the source restarted and counts from zero again.
        const delta = value >= this.last.value ? value - this.last.value : value;
        rate = (delta * 1000) / (atMs - this.last.atMs);
      }
      this.last = { atMs, value };
    }
    this.rates.push(rate);
    if (this.rates.length > this.capacity) this.rates.shift();
  }

  /** The rates (per second), oldest first; null where there was no sample or no earlier one. */
  series(): (number | null)[] {
    return [...this.rates];
  }
}
