import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type BatchEntry, Batcher } from '../../batcher.ts';
import { LockLostError, TaskbusError } from '../../errors.ts';
import { newId, newToken } from '../../id.ts';
import type { Json, MessageRecord, QueueCounts } from '../../types.ts';
import {
  bodyFromColumns,
  bodyToColumns,
  DEADLETTER_EVENT_TASK,
  decodeCursor,
  encodeCursor,
  IDEMPOTENCY_WINDOW_MS,
  MINUTE_MS,
  mergeActivity,
} from '../common.ts';
import type {
  ActivityBucket,
  ActivityParams,
  ApiKeyRecord,
  AttemptInput,
  BrowseParams,
  DriverCapabilities,
  DriverOptions,
  EnqueueParams,
  EnqueueResult,
  ExpiredLock,
  RateLimitHit,
  ReceivedMessage,
  ReceiveParams,
  Rescue,
  ResubmitParams,
  Settlement,
  SettleOutcome,
  StorageDriver,
} from '../driver.ts';
import { keyFromRow, recordFromRow } from '../rows.ts';
import { BACKSTOP_PAGES, checkpointInBackground, queryInBackground } from './checkpointer.ts';
import { MIGRATIONS } from './migrations.ts';
import { rateLimitStatements } from './ratelimit.ts';
import {
  COMPLETE_ROWS,
  COUNT_SETTLED,
  INSERT_ROWS,
  makeStatements,
  type ReceivedRow,
  type Row,
  RowStatements,
  STATE_WHERE,
} from './statements.ts';

export interface SqliteOptions extends DriverOptions {
  /** A file path or ':memory:'. */
  filename: string;
  /**
   * 'NORMAL' (default): in WAL mode a commit survives a process crash but the last commits may
   * be lost on power failure. 'FULL' fsyncs every commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
}

/** A row of COUNT_SETTLED: messages of one task in one settled state. */
type SettledCount = { name: string; state: string; n: number };

/** One caller's part of a group commit: its results, or what failed it. */
type Outcome = { ok: EnqueueResult[] } | { err: unknown };
type EnqueueEntry = BatchEntry<EnqueueParams, EnqueueResult[]>;

type SettleBatch = { settlements: Settlement[]; now: number };

/** An enqueue without idempotency keys: its rows only need inserting. */
const isPlain = (p: EnqueueParams) => p.messages.every((m) => m.idempotencyKey === null);

/**
 * The embedded driver: better-sqlite3 in WAL mode. Single-host: processes on one machine may
 * share the file (busy_timeout serialises writers); never across machines.
 *
 * better-sqlite3 is synchronous, so each method runs its transaction to completion before
 * returning and no two transactions of this process interleave. Enqueues that arrive in the
 * same event-loop turn are group-committed in one transaction, each in its own savepoint so
 * one failing batch does not fail the others; every promise resolves only after the commit.
 */
export class SqliteDriver implements StorageDriver {
  readonly kind = 'sqlite';
  readonly capabilities: DriverCapabilities;
  private readonly filename: string;
  private readonly db: Database.Database;
  private readonly deadLetterEvents: boolean;
  private st!: ReturnType<typeof makeStatements>;
  private hitLimit!: ReturnType<typeof rateLimitStatements>;
  /** Enqueues of one event-loop turn, committed in one transaction (group commit). */
  private readonly enqueues = new Batcher<EnqueueParams, EnqueueResult[]>({
    write: async (group) => this.commitEnqueues(group),
    maxWeight: Number.POSITIVE_INFINITY,
  });
  /** One caller's messages, all or nothing, inside the group's transaction (a savepoint). */
  private readonly insertBatch: (p: EnqueueParams) => EnqueueResult[];
  /**
   * A group's transaction, made once: better-sqlite3 builds four wrapper functions on every
   * `transaction()` call, which every group would pay for.
   */
  private readonly insertGroup: Database.Transaction<(group: EnqueueEntry[]) => Outcome[]>;
  /** Enqueued rows and completions, many a statement. */
  private readonly insertRows: RowStatements;
  private readonly completeRows: RowStatements;
  /** A settle batch's transaction, made once like insertGroup's. */
  private readonly settleBatch: (p: SettleBatch) => SettleOutcome[];
  private stopCheckpoints: (() => Promise<void>) | null = null;

  constructor(options: SqliteOptions) {
    // A file can be shared by processes on this host, which hear of each other's commits
    // through a watch on the file's folder; :memory: has no one else to hear from.
    const shared = options.filename !== ':memory:' && options.filename !== '';
    this.filename = shared ? resolve(options.filename) : options.filename;
    this.capabilities = { multiHost: false, notifications: shared, transactionalEnqueue: false };
    this.db = new Database(options.filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache instead of 2: the hot pages of a busy queue (the ready and locked
    // index edges, the newest rows) stay in memory instead of being re-read every transaction.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('foreign_keys = OFF');
    this.insertBatch = this.db.transaction((p: EnqueueParams) =>
      p.messages.map((m) => this.insertOne(m, p.now)),
    );
    this.insertGroup = this.db.transaction((group: EnqueueEntry[]) => this.insertEach(group));
    this.settleBatch = this.db.transaction((p: SettleBatch) => this.settleEach(p));
    this.insertRows = new RowStatements(this.db, INSERT_ROWS);
    this.completeRows = new RowStatements(this.db, COMPLETE_ROWS);
    if (shared) {
      // Checkpoints run on a thread of their own; this connection checkpoints only as a backstop.
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
      this.stopCheckpoints = checkpointInBackground(this.filename);
    }
    this.deadLetterEvents = options.deadLetterEvents ?? false;
  }

  /**
   * Wakes `listener` (with no names: any task may have work) when another process on this
   * host commits to the file: every commit writes the `-wal` file, which a watch on its folder
   * sees. Bursts of commits are coalesced into one wake-up per millisecond. Without this, a
   * `taskbus worker` beside a `taskbus api` found new tasks only at its next poll (~125 ms p50).
   */
  async subscribe(listener: (names: string[]) => void): Promise<() => Promise<void>> {
    if (!this.capabilities.notifications) {
      throw new TaskbusError(
        'INVALID_STATE',
        'an in-memory SQLite database has no other process to hear from',
      );
    }
    const file = this.filename;
    const names = new Set([basename(file), `${basename(file)}-wal`]);
    let pending = false;
    const watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (pending || !name || !names.has(String(name))) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        listener([]);
      }, 1).unref();
    });
    // A failing watch (folder removed, too many watches) leaves the workers on polling.
    watcher.on('error', () => watcher.close());
    return async () => watcher.close();
  }

  async migrate(): Promise<void> {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)',
    );
    const apply = this.db.transaction(() => {
      const row = this.db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as {
        v: number | null;
      };
      const current = row.v ?? 0;
      const latest = MIGRATIONS[MIGRATIONS.length - 1].version;
      if (current > latest) {
        throw new TaskbusError(
          'SCHEMA_TOO_NEW',
          `the database schema is at version ${current} but this Taskbus knows only up to ${latest}: upgrade Taskbus`,
        );
      }
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      }
    });
    apply.immediate();
    this.st = makeStatements(this.db);
    this.hitLimit = rateLimitStatements(this.db);
  }

  async close(): Promise<void> {
    await this.enqueues.drain();
    if (this.db.open) this.db.close();
    const stop = this.stopCheckpoints;
    this.stopCheckpoints = null;
    await stop?.();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  enqueue(p: EnqueueParams): Promise<EnqueueResult[]> {
    if (p.transaction !== undefined) {
      return Promise.reject(
        new TaskbusError('BAD_REQUEST', 'the SQLite driver cannot join an application transaction'),
      );
    }
    return this.enqueues.add(p);
  }

  /**
   * Commits a group of enqueues in one transaction. The rows of callers without idempotency keys
   * go in together, in as few multi-row INSERTs as they fill (insertPlain). If that fails, one
   * caller's bad row must not fail the others: each caller then goes alone in a savepoint, as do
   * callers with keys (their lookups come first), so a failure undoes only that caller's rows.
   */
  private commitEnqueues(group: EnqueueEntry[]): void {
    let outcomes: Outcome[];
    try {
      outcomes = this.insertGroup.immediate(group);
    } catch (err) {
      for (const g of group) g.reject(storageError(err));
      return;
    }
    group.forEach((g, i) => {
      const o = outcomes[i];
      if ('ok' in o) g.resolve(o.ok);
      else g.reject(o.err instanceof TaskbusError ? o.err : storageError(o.err));
    });
  }

  /** Inside the group's transaction: each caller's rows, or the error that undid them. */
  private insertEach(group: EnqueueEntry[]): Outcome[] {
    const plain = group.filter((g) => isPlain(g.item)).map((g) => g.item);
    let together = plain.length > 0;
    if (together) {
      try {
        this.insertPlain(plain);
      } catch (err) {
        this.mustStillBeInTransaction(err);
        together = false;
      }
    }
    return group.map(({ item: p }) => {
      if (together && isPlain(p)) return { ok: p.messages.map((m) => ({ id: m.id, created: true })) };
      try {
        return { ok: this.insertBatch(p) };
      } catch (err) {
        this.mustStillBeInTransaction(err);
        return { err };
      }
    });
  }

  /**
   * After a failed statement inside the group: some errors (a full disk, an I/O error) make SQLite
   * roll back the whole transaction, and what ran next would commit on its own. Then the group
   * fails as one, with nothing stored.
   */
  private mustStillBeInTransaction(err: unknown): void {
    if (!this.db.inTransaction) throw err;
  }

  /** Callers' rows without idempotency keys, all or none. */
  private insertPlain(callers: EnqueueParams[]): void {
    const values: unknown[] = [];
    for (const p of callers) {
      for (const m of p.messages) {
        const { body, contentType } = bodyToColumns(m.body);
        values.push(m.id, m.name, body, contentType, p.now, m.visibleAt, m.expiresAt, null, m.traceparent);
      }
    }
    this.insertRows.run(values);
  }

  private insertOne(m: EnqueueParams['messages'][number], now: number): EnqueueResult {
    if (m.idempotencyKey !== null) {
      const hit = this.st.idemGet.get(m.name, m.idempotencyKey, now - IDEMPOTENCY_WINDOW_MS) as
        | { message_id: string }
        | undefined;
      if (hit) return { id: hit.message_id, created: false };
      this.st.idemPut.run(m.name, m.idempotencyKey, m.id, now);
    }
    const { body, contentType } = bodyToColumns(m.body);
    this.st.insert.run(
      m.id,
      m.name,
      body,
      contentType,
      now,
      m.visibleAt,
      m.expiresAt,
      m.idempotencyKey,
      m.traceparent,
    );
    return { id: m.id, created: true };
  }

  async receive(p: ReceiveParams): Promise<ReceivedMessage[]> {
    const name = p.name;
    const lockToken = newToken();
    const lockedUntil = p.now + p.lockDurationMs;
    const rows = this.st.receive.all({
      name,
      now: p.now,
      until: lockedUntil,
      worker: p.workerId,
      limit: p.limit,
      token: lockToken,
    }) as ReceivedRow[];
    return rows.map(([id, body, contentType, deliveryCount, enqueuedAt, traceparent]) => ({
      id,
      name,
      body: bodyFromColumns(body, contentType),
      deliveryCount,
      enqueuedAt,
      lockToken,
      lockedUntil,
      traceparent,
    }));
  }

  async renewLock(p: { id: string; lockToken: string; lockDurationMs: number; now: number }) {
    const lockedUntil = p.now + p.lockDurationMs;
    const r = this.st.renew.run(lockedUntil, p.id, p.lockToken, p.now);
    if (r.changes !== 1) throw lockLost();
    return { lockedUntil };
  }

  async settle(p: SettleBatch): Promise<SettleOutcome[]> {
    return this.settleBatch(p);
  }

  /**
   * Inside the batch's transaction: the completions together, then each other item, then the
   * batch's completions counted. Only the current lock token of a message settles it, so taking
   * its completion before another item for it changes no outcome. Two completions of one message
   * (a stale holder's beside the current holder's) are told apart only by their tokens, which
   * the multi-row statement does not answer: such a batch completes item by item, each through
   * the same statement with one row.
   */
  private settleEach(p: SettleBatch): SettleOutcome[] {
    const completed = new Map<string, number>();
    const held = this.completeTogether(p.settlements, p.now, completed);
    const outcomes = p.settlements.map((s) => {
      if (s.kind !== 'complete') return this.settleFailure(s, p.now);
      const h = held ?? (this.completeTogether([s], p.now, completed) as Set<string>);
      return h.has(s.id) ? 'ok' : 'lockLost';
    });
    const minute = Math.floor(p.now / MINUTE_MS) * MINUTE_MS;
    for (const [name, n] of completed) this.st.countCompleted.run(minute, name, n);
    return outcomes;
  }

  /**
   * The batch's completions, many a statement → the ids whose lock was held, each counted under
   * its task name in `completed`; null, and nothing done, when a message has two.
   */
  private completeTogether(
    settlements: Settlement[],
    now: number,
    completed: Map<string, number>,
  ): Set<string> | null {
    const ids = new Set<string>();
    const values: unknown[] = [];
    let count = 0;
    for (const s of settlements) {
      if (s.kind !== 'complete') continue;
      ids.add(s.id);
      count++;
      const a = s.attempt;
      values.push(s.id, s.lockToken, a.startedAt, a.endedAt, a.worker, JSON.stringify(s.result ?? null));
    }
    if (ids.size < count) return null;
    const held = new Set<string>();
    for (const [id, name] of this.completeRows.run(values, { now }) as [string, string][]) {
      held.add(id);
      completed.set(name, (completed.get(name) ?? 0) + 1);
    }
    return held;
  }

  /** Settles one abandon or dead-letter. */
  private settleFailure(s: Exclude<Settlement, { kind: 'complete' }>, now: number): SettleOutcome {
    let row: { attempt_count: number; name: string } | undefined;
    if (s.kind === 'abandon') {
      row = this.st.abandon.get(s.visibleAt, s.id, s.lockToken, now) as typeof row;
    } else {
      row = this.st.deadLetter.get(s.reason, s.description, now, s.id, s.lockToken, now) as typeof row;
    }
    if (!row) return 'lockLost';
    this.insertAttempt(s.id, row.attempt_count, s.attempt);
    if (s.kind === 'deadletter') this.emitDeadLetter(s.id, row.name, s.reason, now);
    return 'ok';
  }

  private insertAttempt(id: string, number: number, a: AttemptInput): void {
    this.st.attempt.run(
      id,
      number,
      a.startedAt,
      a.endedAt,
      a.worker,
      a.error ? JSON.stringify(a.error) : null,
    );
  }

  private emitDeadLetter(id: string, name: string, reason: string, now: number): void {
    if (!this.deadLetterEvents || name.startsWith('$')) return;
    const body = JSON.stringify({ id, name, reason });
    this.st.insert.run(newId(now), DEADLETTER_EVENT_TASK, body, null, now, now, null, null, null);
  }

  async setProgress(p: { id: string; lockToken: string; progress: Json; now: number }): Promise<void> {
    const r = this.st.progress.run(JSON.stringify(p.progress), p.id, p.lockToken, p.now);
    if (r.changes !== 1) throw lockLost();
  }

  async findExpiredLocks(p: { now: number; limit: number }): Promise<ExpiredLock[]> {
    return (this.st.expired.all(p.now, p.limit) as Row[]).map((r) => ({
      id: r.id,
      name: r.name,
      lockToken: r.lock_token!,
      deliveryCount: r.delivery_count,
      lockedAt: r.locked_at!,
      lockedUntil: r.locked_until!,
      lockedBy: r.locked_by,
    }));
  }

  async rescue(p: { items: Rescue[]; now: number }): Promise<string[]> {
    return this.db.transaction(() => {
      const done: string[] = [];
      for (const r of p.items) {
        const row = (
          r.outcome === 'retry'
            ? this.st.rescueRetry.get(r.visibleAt, r.id, r.lockToken, p.now)
            : this.st.rescueDeadLetter.get(r.reason, r.description, p.now, r.id, r.lockToken, p.now)
        ) as { attempt_count: number; name: string } | undefined;
        if (!row) continue;
        this.insertAttempt(r.id, row.attempt_count, r.attempt);
        if (r.outcome === 'deadletter') this.emitDeadLetter(r.id, row.name, r.reason, p.now);
        done.push(r.id);
      }
      return done;
    })();
  }

  async expireTtl(p: { now: number; limit: number }): Promise<string[]> {
    return this.db.transaction(() => {
      const rows = this.st.expireTtl.all(p.now, p.now, p.limit) as { id: string; name: string }[];
      for (const r of rows) this.emitDeadLetter(r.id, r.name, 'TTLExpiredException', p.now);
      return rows.map((r) => r.id);
    })();
  }

  async getMessage(p: { id: string; now: number }): Promise<MessageRecord | null> {
    const row = this.st.get.get(p.id) as Row | undefined;
    return row ? this.toRecord(row, p.now) : null;
  }

  private toRecord(r: Row, now: number): MessageRecord {
    const attempts = (this.st.attempts.all(r.id) as any[]).map((a) => ({
      number: a.number,
      startedAt: a.started_at,
      endedAt: a.ended_at,
      worker: a.worker,
      error: a.error ? JSON.parse(a.error) : null,
    }));
    const history = (this.st.history.all(r.id) as any[]).map((h) => ({
      at: h.at,
      type: h.type,
      data: JSON.parse(h.data),
    }));
    return recordFromRow(r, bodyFromColumns(r.body, r.content_type), attempts, history, now);
  }

  async browse(p: BrowseParams): Promise<{ items: MessageRecord[]; nextCursor: string | null }> {
    const c = p.cursor ? decodeCursor(p.cursor) : { enqueuedAt: Number.MAX_SAFE_INTEGER, id: '' };
    const sql = `SELECT * FROM messages WHERE name = @name AND ${STATE_WHERE[p.state]}
      AND (enqueued_at < @ca OR (enqueued_at = @ca AND id < @ci))
      ORDER BY enqueued_at DESC, id DESC LIMIT @limit`;
    const rows = this.db.prepare(sql).all({
      name: p.name,
      now: p.now,
      ca: c.enqueuedAt,
      ci: p.cursor ? c.id : '\uffff',
      limit: p.limit + 1,
    }) as Row[];
    const more = rows.length > p.limit;
    const page = rows.slice(0, p.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => this.toRecord(r, p.now)),
      nextCursor: more && last ? encodeCursor(last.enqueued_at, last.id) : null,
    };
  }

  async resubmit(p: ResubmitParams): Promise<{ resubmitted: string[]; notFound: string[] }> {
    return this.db.transaction(() => {
      const ids = p.all
        ? (this.st.dlqIds.all(p.name) as { id: string }[]).map((r) => r.id)
        : [...new Set(p.ids ?? [])];
      const resubmitted: string[] = [];
      const notFound: string[] = [];
      const body = p.body ? bodyToColumns(p.body) : null;
      for (const id of ids) {
        const prev = this.st.get.get(id) as Row | undefined;
        if (!prev || prev.name !== p.name || prev.state !== 'deadlettered') {
          notFound.push(id);
          continue;
        }
        this.st.resubmit.run({
          to: p.toName ?? prev.name,
          now: p.now,
          edit: body ? 1 : 0,
          body: body?.body ?? null,
          ct: body?.contentType ?? null,
          id,
        });
        this.addHistoryInTx(id, p.now, 'resubmitted', {
          reason: prev.dead_letter_reason,
          description: prev.dead_letter_description,
          from: prev.name,
          to: p.toName ?? prev.name,
          bodyEdited: body !== null,
          ...p.event,
        });
        resubmitted.push(id);
      }
      return { resubmitted, notFound };
    })();
  }

  async purge(p: { name: string; ids?: string[]; now: number }): Promise<{ purged: number }> {
    return this.db.transaction(() => {
      const ids = p.ids
        ? [...new Set(p.ids)]
        : (this.st.dlqIds.all(p.name) as { id: string }[]).map((r) => r.id);
      let purged = 0;
      for (const id of ids) {
        const r = this.st.purgeOne.run(id, p.name);
        if (r.changes === 1) {
          purged++;
          this.st.deleteAttempts.run(id);
          this.st.deleteHistory.run(id);
        }
      }
      return { purged };
    })();
  }

  async cancel(p: { id: string; now: number; reason?: string }): Promise<boolean> {
    return this.db.transaction(() => {
      const row = this.st.cancel.get(
        p.reason ?? 'Cancelled',
        'cancelled by an operator',
        p.now,
        p.id,
        p.now,
      ) as { name: string } | undefined;
      if (!row) return false;
      this.addHistoryInTx(p.id, p.now, 'cancelled', {});
      return true;
    })();
  }

  async addHistory(p: {
    id: string;
    event: { at: number; type: string; data: Record<string, unknown> };
  }): Promise<void> {
    this.addHistoryInTx(p.id, p.event.at, p.event.type, p.event.data);
  }

  private addHistoryInTx(id: string, at: number, type: string, data: Record<string, unknown>): void {
    this.st.addHistory.run(id, at, type, JSON.stringify(data));
  }

  /**
   * The settled-states count reads every retained row's index entry (a million for a million
   * tasks, ~90 ms). For a file it runs on the background thread's connection: counted here, it
   * blocked the event loop that long on every dashboard refresh, and evicted the hot pages the
   * workers and the API use from this connection's cache (the next second of processing ran a
   * tenth slower). :memory: has one connection.
   */
  private async settledCounts(): Promise<SettledCount[]> {
    if (this.stopCheckpoints) {
      try {
        return (await queryInBackground(this.filename, COUNT_SETTLED)) as SettledCount[];
      } catch {
        // The thread is gone: count here rather than not at all.
      }
    }
    return this.st.countSettled.all() as SettledCount[];
  }

  async counts(p: { now: number; names?: string[] }): Promise<QueueCounts[]> {
    const by = new Map<string, QueueCounts>();
    const entry = (name: string) => {
      let e = by.get(name);
      if (!e) {
        e = {
          name,
          scheduled: 0,
          queued: 0,
          running: 0,
          completed: 0,
          deadlettered: 0,
          oldestQueuedAt: null,
        };
        by.set(name, e);
      }
      return e;
    };
    for (const n of p.names ?? []) entry(n);
    for (const r of await this.settledCounts()) {
      const e = entry(r.name);
      if (r.state === 'completed') e.completed = r.n;
      else e.deadlettered = r.n;
    }
    const active = [
      ...(this.st.countReady.all({ now: p.now }) as any[]),
      ...(this.st.countLocked.all({ now: p.now }) as any[]),
    ];
    for (const r of active) {
      const e = entry(r.name);
      e.scheduled += r.scheduled;
      e.queued += r.queued;
      e.running += r.running;
      if (r.oldest !== null && (e.oldestQueuedAt === null || r.oldest < e.oldestQueuedAt)) {
        e.oldestQueuedAt = r.oldest;
      }
    }
    const names = p.names ? new Set(p.names) : null;
    return [...by.values()]
      .filter((e) => !names || names.has(e.name))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async activity(p: ActivityParams): Promise<ActivityBucket[]> {
    const q = { since: p.since, now: p.now, bucket: p.bucketMs };
    type Count = { name: string; b: number; n: number };
    return mergeActivity(p, {
      completed: this.st.activityCompleted.all(q) as Count[],
      failed: this.st.activityFailed.all(q) as Count[],
      deadlettered: this.st.activityDeadLettered.all(q) as Count[],
    });
  }

  async maintain(p: {
    now: number;
    completedRetentionMs: number;
    idempotencyRetentionMs: number;
    limit: number;
  }) {
    return this.db.transaction(() => {
      const cutoff = p.now - p.completedRetentionMs;
      const ids: string[] = [];
      // Task by task (names by a loose scan of messages_completed_by_name), up to `limit` in all.
      let name: string | undefined = '';
      while (ids.length < p.limit) {
        name = (this.st.nextCompletedName.get(name) as { name: string } | undefined)?.name;
        if (name === undefined) break;
        for (const r of this.st.oldCompleted.all(name, cutoff, cutoff, p.limit - ids.length)) {
          ids.push((r as { id: string }).id);
        }
      }
      this.st.oldCounts.run(cutoff);
      for (const id of ids) {
        this.st.deleteMessage.run(id);
        this.st.deleteAttempts.run(id);
        this.st.deleteHistory.run(id);
      }
      const keys = this.st.oldKeys.run(p.now - p.idempotencyRetentionMs, p.limit);
      return { deletedMessages: ids.length, deletedKeys: keys.changes };
    })();
  }

  async nextVisibleAt(p: { names: string[]; now: number }): Promise<number | null> {
    let next: number | null = null;
    for (const name of p.names) {
      const r = this.st.nextVisible.get(name, p.now) as { v: number | null } | undefined;
      if (r?.v != null && (next === null || r.v < next)) next = r.v;
    }
    return next;
  }

  async hitRateLimit(p: RateLimitHit): Promise<{ count: number; resetAt: number }> {
    try {
      return this.hitLimit(p);
    } catch (err) {
      throw storageError(err);
    }
  }

  async getSetting(p: { key: string }): Promise<string | null> {
    const r = this.st.getSetting.get(p.key) as { value: string } | undefined;
    return r?.value ?? null;
  }

  async initSetting(p: { key: string; value: string }): Promise<string> {
    this.st.initSetting.run(p.key, p.value);
    return (await this.getSetting(p))!;
  }

  async createKey(p: { key: ApiKeyRecord }): Promise<void> {
    const k = p.key;
    this.st.createKey.run(k.id, k.label, k.scope, k.task, k.hash, k.createdAt, k.revokedAt);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (this.st.listKeys.all() as any[]).map(keyFromRow);
  }

  async findKeyByHash(p: { hash: string }): Promise<ApiKeyRecord | null> {
    const r = this.st.findKey.get(p.hash) as Parameters<typeof keyFromRow>[0] | undefined;
    return r ? keyFromRow(r) : null;
  }

  async revokeKey(p: { id: string; now: number }): Promise<boolean> {
    return this.st.revokeKey.run(p.now, p.id).changes === 1;
  }
}

function lockLost() {
  return new LockLostError();
}

function storageError(err: unknown): TaskbusError {
  if (err instanceof TaskbusError) return err;
  return new TaskbusError('STORAGE_UNAVAILABLE', `storage failed: ${(err as Error)?.message ?? err}`, {
    cause: err,
  });
}
