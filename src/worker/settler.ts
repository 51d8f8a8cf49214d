import { type BatchEntry, Batcher } from '../batcher.ts';
import type { Clock } from '../clock.ts';
import type { Settlement, SettleOutcome, StorageDriver } from '../storage/driver.ts';

/**
 * Batches settlements: every settle requested in one event-loop turn, or while the previous
 * batch commits, goes to the driver in one call (one transaction, one round trip on PostgreSQL).
 * Each promise resolves after the batch committed. At concurrency 50 this turns ~50 commits into
 * a handful. One batch at a time: two in flight made twice the commits at concurrency 10 on
 * PostgreSQL for the same work (~18k → ~22k tasks/s with one).
 */
export class Settler {
  private readonly batcher: Batcher<Settlement, SettleOutcome>;

  constructor(
    private readonly driver: StorageDriver,
    private readonly clock: Clock,
    maxBatch = 500,
  ) {
    this.batcher = new Batcher({ write: (batch) => this.settleWithRetry(batch), maxWeight: maxBatch });
  }

  settle(s: Settlement): Promise<SettleOutcome> {
    return this.batcher.add(s);
  }

  /** As `settle`, with callbacks: no promise per settlement on the worker's hot path. */
  settleThen(s: Settlement, resolve: (o: SettleOutcome) => void, reject: (err: unknown) => void): void {
    this.batcher.push(s, resolve, reject);
  }

  /**
   * A settle that fails on a storage error (connection lost) is retried with backoff for up to
   * ~30 s: the lock may expire meanwhile, in which case the message is redelivered (at least once).
   */
  private async settleWithRetry(batch: BatchEntry<Settlement, SettleOutcome>[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const outcomes = await this.driver.settle({
          settlements: batch.map((b) => b.item),
          now: this.clock.now(),
        });
        for (let i = 0; i < batch.length; i++) batch[i].resolve(outcomes[i]);
        return;
      } catch (err) {
        if (attempt >= 8) throw err;
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Resolves when every requested settlement has been written. */
  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
