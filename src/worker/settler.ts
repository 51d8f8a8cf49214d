import type { Clock } from '../clock.ts';
import type { Settlement, SettleOutcome, StorageDriver } from '../storage/driver.ts';

/**
 * Batches settlements: every settle requested in one event-loop turn goes to the driver in one
 * call (one transaction, one round trip on PostgreSQL). Each promise resolves after the batch
 * committed. At concurrency 50 this turns ~50 commits into a handful.
 */
export class Settler {
  private queue: { s: Settlement; resolve: (o: SettleOutcome) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private inflight = new Set<Promise<void>>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly clock: Clock,
    private readonly maxBatch = 500,
    // One batch at a time: while it commits the next one grows. Two in flight made twice the
    // commits at concurrency 10 on PostgreSQL for the same work (~18k → ~22k tasks/s with one).
    private readonly maxInFlight = 1,
  ) {}

  settle(s: Settlement): Promise<SettleOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ s, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Writes queued settlements, at most `maxInFlight` batches at a time: while one is in
   * flight, new settlements wait and the next batch grows, so under load the database sees
   * fewer, larger statements (adaptive group commit) instead of one per event-loop turn.
   */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length && this.inflight.size < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      const p = this.settleWithRetry(batch).finally(() => {
        this.inflight.delete(p);
        if (this.queue.length) this.flush();
      });
      this.inflight.add(p);
    }
  }

  /**
   * A settle that fails on a storage error (connection lost) is retried with backoff for up to
   * ~30 s: the lock may expire meanwhile, in which case the message is redelivered (at least once).
   */
  private async settleWithRetry(batch: typeof this.queue): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const outcomes = await this.driver.settle({
          settlements: batch.map((b) => b.s),
          now: this.clock.now(),
        });
        for (const [i, b] of batch.entries()) b.resolve(outcomes[i]);
        return;
      } catch (err) {
        if (attempt >= 8) {
          for (const b of batch) b.reject(err);
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Resolves when every requested settlement has been written. */
  async drain(): Promise<void> {
    while (this.queue.length || this.inflight.size || this.scheduled) {
      if (this.scheduled || this.queue.length) this.flush();
      await Promise.all([...this.inflight]);
    }
  }
}
