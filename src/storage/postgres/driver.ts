import pg from 'pg';
import { LockLostError, TaskbusError } from '../../errors.ts';
import { newToken } from '../../id.ts';
import type { Json, MessageRecord, QueueCounts } from '../../types.ts';
import { decodeCursor, encodeCursor, IDEMPOTENCY_WINDOW_MS, mergeActivity } from '../common.ts';
import type {
  ActivityBucket,
  ActivityParams,
  ApiKeyRecord,
  BrowseParams,
  DriverOptions,
  EnqueueParams,
  EnqueueResult,
  ExpiredLock,
  NewMessage,
  RateLimitHit,
  ReceivedMessage,
  ReceiveParams,
  Rescue,
  ResubmitParams,
  Settlement,
  SettleOutcome,
  StorageDriver,
} from '../driver.ts';
import { asClient, clientConfig, Db, type Queryable, resolveUrl } from './connection.ts';
import { GroupCommit } from './group.ts';
import { Subscriptions } from './listener.ts';
import {
  completeParams,
  deadLetterEvent,
  insertParams,
  keyFromRow,
  mergeCounts,
  type ReceivedRow,
  receivedFromRows,
  settleParams,
  toRecord,
} from './mapping.ts';
import { migrate } from './migrate.ts';
import { rateLimiter } from './ratelimit.ts';
import { makeSql, type Row, type Sql } from './statements.ts';

export interface PostgresOptions extends DriverOptions {
  /**
   * `postgres://…`. Query parameters `schema` and `pool_size` stand in for the options below when
   * they are not given (the CLI passes only a URL).
   */
  connectionString: string;
  /** The schema holding Taskbus' tables (default 'taskbus'); created by migrate. */
  schema?: string;
  /** Connections in the pool (default 10), opened on demand. A subscribed listener uses one more. */
  poolSize?: number;
}

/**
 * The multi-host driver: node-postgres, any number of processes on any number of machines
 * sharing one database. Receive is one `FOR UPDATE SKIP LOCKED` statement; settle, rescue and
 * enqueue send a whole batch in one statement (arrays unnested server-side), and the enqueues of
 * one event-loop turn share one statement (group commit). Every message made visible is
 * announced with NOTIFY on commit; `subscribe` LISTENs on a dedicated connection.
 *
 * Single statements run in autocommit, so they are atomic without BEGIN/COMMIT round trips;
 * only the operations that read a result before writing (idempotent enqueue, TTL expiry with
 * dead-letter events, migrations) open a transaction.
 */
export class PostgresDriver implements StorageDriver {
  readonly kind = 'postgres';
  readonly capabilities = { multiHost: true, notifications: true, transactionalEnqueue: true };
  readonly schema: string;
  /** The NOTIFY channel of this schema: task names whose messages may have become visible. */
  readonly channel: string;
  private readonly db: Db;
  private readonly group: GroupCommit;
  private readonly config: pg.ClientConfig;
  private readonly sql: Sql;
  private readonly deadLetterEvents: boolean;
  private readonly subscriptions: Subscriptions;
  private closed = false;
  private hitLimit: ReturnType<typeof rateLimiter> | null = null;

  constructor(options: PostgresOptions) {
    const { schema, poolSize, url } = resolveUrl(options.connectionString, options);
    this.schema = schema;
    this.channel = `${schema}.visible`;
    this.sql = makeSql(pg.escapeIdentifier(schema));
    this.deadLetterEvents = options.deadLetterEvents ?? false;
    this.config = clientConfig(url);
    this.db = new Db(this.config, poolSize);
    this.subscriptions = new Subscriptions({
      config: this.config,
      channel: this.channel,
      waitingNames: async () =>
        (await this.db.q('waitingNames', this.sql.waitingNames, [])).rows.map((r) => r.name as string),
    });
    this.group = new GroupCommit((batches) =>
      this.db.q('insert', this.sql.insert, insertParams(batches, this.channel)),
    );
  }

  async migrate(): Promise<void> {
    await migrate(this.db, this.schema);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.group.drain();
    await this.subscriptions.stop();
    await this.db.end();
  }

  async ping(): Promise<void> {
    await this.db.q('ping', 'SELECT 1', []);
  }

  async enqueue(p: EnqueueParams): Promise<EnqueueResult[]> {
    if (p.messages.length === 0) return [];
    const external = p.transaction === undefined ? null : asClient(p.transaction);
    const ext = external !== null;
    const run = async (c?: Queryable): Promise<EnqueueResult[]> => {
      const results: EnqueueResult[] = [];
      const fresh: NewMessage[] = [];
      for (const m of p.messages) {
        if (m.idempotencyKey !== null) {
          const key = [m.name, m.idempotencyKey];
          const since = p.now - IDEMPOTENCY_WINDOW_MS;
          const claim = await this.db.q(
            'idemClaim',
            this.sql.idemClaim,
            [...key, m.id, p.now, since],
            c,
            ext,
          );
          if (claim.rowCount === 0) {
            const hit = await this.db.q('idemGet', this.sql.idemGet, key, c, ext);
            results.push({ id: String(hit.rows[0].message_id), created: false });
            continue;
          }
        }
        fresh.push(m);
        results.push({ id: m.id, created: true });
      }
      if (fresh.length) {
        const params = insertParams([{ messages: fresh, now: p.now }], this.channel);
        await this.db.q('insert', this.sql.insert, params, c, ext);
      }
      return results;
    };
    if (external) return run(external);
    // Without idempotency keys: one INSERT shared with the other enqueues of this turn.
    if (p.messages.every((m) => m.idempotencyKey === null)) {
      return this.group
        .add(p.messages, p.now)
        .then(() => p.messages.map((m) => ({ id: m.id, created: true })));
    }
    return this.db.tx(run);
  }

  async receive(p: ReceiveParams): Promise<ReceivedMessage[]> {
    const lock = { name: p.name, lockToken: newToken(), lockedUntil: p.now + p.lockDurationMs };
    const rows = await this.db.arrays('receive', this.sql.receive, [
      p.name,
      p.now,
      p.limit,
      lock.lockedUntil,
      p.workerId,
      lock.lockToken,
    ]);
    return receivedFromRows(rows as ReceivedRow[], lock);
  }

  async renewLock(p: { id: string; lockToken: string; lockDurationMs: number; now: number }) {
    const lockedUntil = p.now + p.lockDurationMs;
    const r = await this.db.q('renew', this.sql.renew, [lockedUntil, p.id, p.lockToken, p.now]);
    if (r.rowCount !== 1) throw new LockLostError();
    return { lockedUntil };
  }

  async settle(p: { settlements: Settlement[]; now: number }): Promise<SettleOutcome[]> {
    if (p.settlements.length === 0) return [];
    const completes = completeParams(p.settlements, p.now);
    const lost = completes
      ? await this.lostOrds('complete', completes)
      : await this.settleBatch('settle', p.settlements, p.now);
    return p.settlements.map((_, i) => (lost.has(i + 1) ? 'lockLost' : 'ok'));
  }

  async rescue(p: { items: Rescue[]; now: number }): Promise<string[]> {
    if (p.items.length === 0) return [];
    const as: Settlement[] = p.items.map((r) =>
      r.outcome === 'retry'
        ? { kind: 'abandon', id: r.id, lockToken: r.lockToken, visibleAt: r.visibleAt, attempt: r.attempt }
        : { ...r, kind: 'deadletter' },
    );
    const lost = await this.settleBatch('rescue', as, p.now);
    return p.items.filter((_, i) => !lost.has(i + 1)).map((r) => r.id);
  }

  /** Runs the batched settle or rescue statement; returns the 1-based positions that did not apply. */
  private async settleBatch(
    which: 'settle' | 'rescue',
    items: Settlement[],
    now: number,
  ): Promise<Set<number>> {
    return this.lostOrds(which, settleParams(items, now, this.deadLetterEvents, this.channel));
  }

  /** Runs a settle statement; the positions it answers in `lost` are the items that did not apply. */
  private async lostOrds(which: 'settle' | 'rescue' | 'complete', params: unknown[]): Promise<Set<number>> {
    const r = await this.db.q(which, this.sql[which], params);
    return new Set(r.rows.filter((row) => row.lost !== null).map((row) => Number(row.lost)));
  }

  async setProgress(p: { id: string; lockToken: string; progress: Json; now: number }): Promise<void> {
    const r = await this.db.q('progress', this.sql.progress, [
      JSON.stringify(p.progress),
      p.id,
      p.lockToken,
      p.now,
    ]);
    if (r.rowCount !== 1) throw new LockLostError();
  }

  async findExpiredLocks(p: { now: number; limit: number }): Promise<ExpiredLock[]> {
    const r = await this.db.q('expired', this.sql.expired, [p.now, p.limit]);
    return (r.rows as Row[]).map((row) => ({
      id: row.id,
      name: row.name,
      lockToken: row.lock_token!,
      deliveryCount: row.delivery_count,
      lockedAt: row.locked_at!,
      lockedUntil: row.locked_until!,
      lockedBy: row.locked_by,
    }));
  }

  async expireTtl(p: { now: number; limit: number }): Promise<string[]> {
    const run = async (c?: Queryable) => {
      const r = await this.db.q('expireTtl', this.sql.expireTtl, [p.now, p.limit], c);
      const rows = r.rows as { id: string; name: string }[];
      const events = rows
        .filter((row) => this.deadLetterEvents && !row.name.startsWith('$'))
        .map((row) => deadLetterEvent(row.id, row.name, 'TTLExpiredException', p.now));
      if (events.length) {
        const params = insertParams([{ messages: events, now: p.now }], this.channel);
        await this.db.q('insert', this.sql.insert, params, c);
      }
      return rows.map((row) => row.id);
    };
    // The outbox needs a second statement in the same transaction; without it one suffices.
    return this.deadLetterEvents ? this.db.tx(run) : run();
  }

  async getMessage(p: { id: string; now: number }): Promise<MessageRecord | null> {
    const r = await this.db.q('get', this.sql.get, [p.id]);
    return r.rows.length ? toRecord(r.rows[0], p.now) : null;
  }

  async browse(p: BrowseParams): Promise<{ items: MessageRecord[]; nextCursor: string | null }> {
    const c = p.cursor ? decodeCursor(p.cursor) : { enqueuedAt: Number.MAX_SAFE_INTEGER, id: '' };
    const r = await this.db.q(`browse_${p.state}`, this.sql.browse[p.state], [
      p.name,
      p.now,
      c.enqueuedAt,
      c.id,
      p.limit + 1,
    ]);
    const rows = r.rows as Row[];
    const page = rows.slice(0, p.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => toRecord(row, p.now)),
      nextCursor: rows.length > p.limit && last ? encodeCursor(last.enqueued_at, last.id) : null,
    };
  }

  async resubmit(p: ResubmitParams): Promise<{ resubmitted: string[]; notFound: string[] }> {
    const ids = [...new Set(p.ids ?? [])];
    const b = p.body;
    const r = await this.db.q('resubmit', this.sql.resubmit, [
      p.name,
      p.all === true,
      ids,
      p.toName ?? p.name,
      p.now,
      b !== undefined,
      b?.kind === 'json' ? b.json : null,
      b?.kind === 'bytes' ? b.bytes : null,
      b?.kind === 'bytes' ? b.contentType : null,
      JSON.stringify(p.event ?? {}),
      this.channel,
    ]);
    const moved = (r.rows as Row[]).sort((a, b) => a.enqueued_at - b.enqueued_at || (a.id < b.id ? -1 : 1));
    if (p.all) return { resubmitted: moved.map((m) => m.id), notFound: [] };
    const done = new Set(moved.map((m) => m.id));
    return { resubmitted: ids.filter((id) => done.has(id)), notFound: ids.filter((id) => !done.has(id)) };
  }

  async purge(p: { name: string; ids?: string[]; now: number }): Promise<{ purged: number }> {
    const r = await this.db.q('purge', this.sql.purge, [
      p.name,
      p.ids === undefined,
      [...new Set(p.ids ?? [])],
    ]);
    return { purged: Number(r.rows[0].n) };
  }

  async cancel(p: { id: string; now: number; reason?: string }): Promise<boolean> {
    const r = await this.db.q('cancel', this.sql.cancel, [
      p.reason ?? 'Cancelled',
      'cancelled by an operator',
      p.now,
      p.id,
    ]);
    return r.rowCount === 1;
  }

  async addHistory(p: {
    id: string;
    event: { at: number; type: string; data: Record<string, unknown> };
  }): Promise<void> {
    await this.db.q('addHistory', this.sql.addHistory, [
      p.id,
      p.event.at,
      p.event.type,
      JSON.stringify(p.event.data),
    ]);
  }

  async counts(p: { now: number; names?: string[] }): Promise<QueueCounts[]> {
    const settled = await this.db.q('countSettled', this.sql.countSettled, []);
    const active = await this.db.q('countActive', this.sql.countActive, [p.now]);
    return mergeCounts(p.names, settled.rows, active.rows);
  }

  async activity(p: ActivityParams): Promise<ActivityBucket[]> {
    const r = await this.db.q('activity', this.sql.activity, [p.since, p.now, p.bucketMs]);
    type Count = { name: string; b: number; n: number };
    const rows: Record<'completed' | 'failed' | 'deadlettered', Count[]> = {
      completed: [],
      failed: [],
      deadlettered: [],
    };
    for (const row of r.rows) rows[row.kind as keyof typeof rows].push(row);
    return mergeActivity(p, rows);
  }

  async maintain(p: {
    now: number;
    completedRetentionMs: number;
    idempotencyRetentionMs: number;
    limit: number;
  }) {
    const r = await this.db.q('maintain', this.sql.maintain, [
      p.now - p.completedRetentionMs,
      p.limit,
      p.now - p.idempotencyRetentionMs,
    ]);
    return { deletedMessages: Number(r.rows[0].messages), deletedKeys: Number(r.rows[0].keys) };
  }

  async nextVisibleAt(p: { names: string[]; now: number }): Promise<number | null> {
    const r = await this.db.q('nextVisible', this.sql.nextVisible, [p.names, p.now]);
    return r.rows[0]?.v ?? null;
  }

  async hitRateLimit(p: RateLimitHit): Promise<{ count: number; resetAt: number }> {
    this.hitLimit ??= rateLimiter(this.db, pg.escapeIdentifier(this.schema));
    return this.hitLimit(p);
  }

  async getSetting(p: { key: string }): Promise<string | null> {
    const r = await this.db.q('getSetting', this.sql.getSetting, [p.key]);
    return r.rows[0]?.value ?? null;
  }

  async initSetting(p: { key: string; value: string }): Promise<string> {
    await this.db.q('initSetting', this.sql.initSetting, [p.key, p.value]);
    return (await this.getSetting(p))!;
  }

  async createKey(p: { key: ApiKeyRecord }): Promise<void> {
    const k = p.key;
    await this.db.q('createKey', this.sql.createKey, [
      k.id,
      k.label,
      k.scope,
      k.task,
      k.hash,
      k.createdAt,
      k.revokedAt,
    ]);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.q('listKeys', this.sql.listKeys, [])).rows.map(keyFromRow);
  }

  async findKeyByHash(p: { hash: string }): Promise<ApiKeyRecord | null> {
    const r = await this.db.q('findKey', this.sql.findKey, [p.hash]);
    return r.rows.length ? keyFromRow(r.rows[0]) : null;
  }

  async revokeKey(p: { id: string; now: number }): Promise<boolean> {
    return (await this.db.q('revokeKey', this.sql.revokeKey, [p.now, p.id])).rowCount === 1;
  }

  /**
   * LISTENs on this schema's channel over one dedicated connection shared by every subscriber.
   * After a lost connection it reconnects by itself and reports every waiting task name.
   */
  async subscribe(listener: (names: string[]) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new TaskbusError('STORAGE_UNAVAILABLE', 'the driver is closed');
    return this.subscriptions.add(listener);
  }

  /** The listening connection, for health checks and tests; null when nobody subscribed. */
  get listenerState(): { connected: boolean; reconnects: number } | null {
    return this.subscriptions.state;
  }
}
