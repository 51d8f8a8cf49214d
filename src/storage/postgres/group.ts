/**
 * Group commit for enqueue: every enqueue call that arrives in one event-loop turn, or while the
 * previous statement commits, goes to the server as one INSERT statement, one commit. An API process answering 64 requests at once then
 * pays a handful of commits instead of 64; each caller's promise still resolves only after its
 * rows are committed, so a 202 still means stored.
 *
 * Callers stay all-or-nothing and independent: if the combined statement fails for a reason
 * other than the connection (a duplicate id, say), each caller's batch is retried alone, so only
 * the bad batch fails.
 */
import type { NewMessage } from '../driver.ts';
import { isConnectionError } from './connection.ts';

interface Pending {
  batch: { messages: NewMessage[]; now: number };
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly inflight = new Set<Promise<void>>();

  /**
   * @param insert runs the insert statement for the given batches (one statement, one commit).
   * @param maxRows rows per statement: 1,000 rows of a 256 KiB body limit stay well within a
   *   statement's parameter size while still covering any realistic burst of one turn.
   */
  constructor(
    private readonly insert: (batches: Pending['batch'][]) => Promise<unknown>,
    private readonly maxRows = 1000,
    // One statement at a time: callers that arrive while it commits share the next one, so
    // under load the statements grow instead of multiplying. With no limit, 50 HTTP connections
    // made a commit of a few rows every turn (~14k req/s here); with one, ~19k.
    private readonly maxInFlight = 1,
  ) {}

  add(messages: NewMessage[], now: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ batch: { messages, now }, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length && this.inflight.size < this.maxInFlight) {
      const group: Pending[] = [];
      let rows = 0;
      while (
        this.pending.length &&
        (group.length === 0 || rows + this.pending[0].batch.messages.length <= this.maxRows)
      ) {
        const next = this.pending.shift()!;
        rows += next.batch.messages.length;
        group.push(next);
      }
      const p = this.commit(group).finally(() => {
        this.inflight.delete(p);
        if (this.pending.length && !this.scheduled) this.flush();
      });
      this.inflight.add(p);
    }
  }

  /** Resolves when every enqueue requested so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.pending.length || this.inflight.size) {
      if (this.pending.length) this.flush();
      await Promise.all([...this.inflight]);
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    try {
      await this.insert(group.map((g) => g.batch));
      for (const g of group) g.resolve();
    } catch (err) {
      if (group.length === 1 || isConnectionError((err as { cause?: unknown }).cause ?? err)) {
        for (const g of group) g.reject(err);
        return;
      }
      await Promise.all(group.map((g) => this.commit([g])));
    }
  }
}
