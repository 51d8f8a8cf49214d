/**
 * Adaptive batching, shared by the writes that group many callers into one statement (the
 * PostgreSQL enqueue group commit, the worker's settles): items requested in one event-loop turn,
 * or while the previous batch is being written, go out together, with at most `maxInFlight`
 * batches at a time. Under load batches then grow instead of multiplying, and the database sees
 * fewer, larger statements; when idle an item goes out on the next turn.
 */
export interface BatchEntry<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export interface BatcherOptions<T, R> {
  /** Writes one batch and settles every entry; a throw rejects the entries still unsettled. */
  write: (batch: BatchEntry<T, R>[]) => Promise<void>;
  /** The most a batch may weigh (a batch always takes at least one item). */
  maxWeight: number;
  /** What one item weighs (default 1). */
  weight?: (item: T) => number;
  maxInFlight?: number;
}

export class Batcher<T, R> {
  private queue: BatchEntry<T, R>[] = [];
  private scheduled = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly o: BatcherOptions<T, R>) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => this.push(item, resolve, reject));
  }

  /** As `add`, with callbacks instead of a promise: for callers that add an item per task. */
  push(item: T, resolve: (r: R) => void, reject: (err: unknown) => void): void {
    this.queue.push({ item, resolve, reject });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const { maxWeight, weight = () => 1, maxInFlight = 1 } = this.o;
    while (this.queue.length && this.inflight.size < maxInFlight) {
      let n = 0;
      let total = 0;
      while (n < this.queue.length && (n === 0 || total + weight(this.queue[n].item) <= maxWeight)) {
        total += weight(this.queue[n].item);
        n++;
      }
      const batch = this.queue.splice(0, n);
      const p = this.o
        .write(batch)
        .catch((err) => {
          for (const e of batch) e.reject(err);
        })
        .finally(() => {
          this.inflight.delete(p);
          if (this.queue.length) this.flush();
        });
      this.inflight.add(p);
    }
  }

  /** Resolves when every item requested so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.queue.length || this.inflight.size) {
      if (this.queue.length) this.flush();
      await Promise.all([...this.inflight]);
    }
  }
}
