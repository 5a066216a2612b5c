/** An async FIFO with a capacity: producers wait when it is full, consumers when it is empty. */
export class BoundedQueue<T> {
  private items: T[] = [];
  private closed = false;
  private failure: unknown = null;
  private readonly spaceWaiters: (() => void)[] = [];
  private readonly itemWaiters: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  /**
   * Add an item, waiting while the queue is full. False when the queue is (or got) closed and the
   * item was not taken: the producer should stop (and release what it holds, open files say).
   */
  async push(item: T): Promise<boolean> {
    while (this.items.length >= this.capacity && !this.closed) await new Promise<void>((r) => this.spaceWaiters.push(r));
    if (this.closed) return false;
    this.items.push(item);
    this.itemWaiters.shift()?.();
    return true;
  }

  /** No more items; `failure` makes the consumer throw once the queue is drained. The first close counts. */
  close(failure: unknown = null): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = failure;
    for (const w of this.itemWaiters.splice(0)) w();
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  /** Take items until the queue is closed and empty. */
  async *drain(): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        this.spaceWaiters.shift()?.();
        yield item;
      } else if (this.closed) {
        if (this.failure !== null) throw this.failure;
        return;
      } else await new Promise<void>((r) => this.itemWaiters.push(r));
    }
  }
}
