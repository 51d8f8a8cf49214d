/**
 * Every SQLite statement of the driver, prepared once. Each has a short header:
 * parameters → result, and why it is shaped so.
 */
import type Database from 'better-sqlite3';
import type { MessageState } from '../../types.ts';
import { MINUTE_MS } from '../common.ts';
import type { MessageRow } from '../rows.ts';

export interface Row extends MessageRow {
  body: unknown;
}

/** SQL for each visible state, with `@now`. A lock that expired counts as queued (SPEC §4). */
export const STATE_WHERE: Record<MessageState, string> = {
  scheduled: `(state = 'ready' AND visible_at > @now)`,
  queued: `((state = 'ready' AND visible_at <= @now) OR (state = 'locked' AND locked_until <= @now))`,
  running: `(state = 'locked' AND locked_until > @now)`,
  // Each exactly its index's condition (messages_completed_by_name, messages_deadlettered_by_name),
  // which SQLite needs literally to use it.
  completed: `(state = 'completed')`,
  deadlettered: `(state = 'deadlettered')`,
};

/** Settle guard: the token is current and the lock has not expired (last parameter: now). */
const HELD = `id = ? AND state = 'locked' AND lock_token = ? AND locked_until > ?`;
/** Rescue guard: still locked with that token and the lock is still expired. */
const EXPIRED = `id = ? AND state = 'locked' AND lock_token = ? AND locked_until <= ?`;

/** → (name, state, n) for the settled states, each through its covering index. */
export const COUNT_SETTLED = `SELECT name, 'completed' AS state, count(*) AS n FROM messages
  WHERE state = 'completed' GROUP BY name
  UNION ALL
  SELECT name, 'deadlettered', count(*) FROM messages WHERE state = 'deadlettered' GROUP BY name`;

const INSERT_INTO = `INSERT INTO messages (id, name, state, body, content_type, enqueued_at, visible_at,
  expires_at, idempotency_key, traceparent) VALUES `;
const INSERT_ROW = `(?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?)`;

/**
 * The most rows one multi-row statement takes (INSERT_ROWS, COMPLETE_ROWS): at most 9
 * parameters a row, far below SQLite's 32,766. One statement for many rows instead of one a
 * row pays the statement's start, reset and binding calls once: a fifth less CPU a row.
 */
const ROWS_PER_STATEMENT = 64;

/** A multi-row statement: its SQL for `n` rows, and how many parameters each row takes. */
export interface RowsSql {
  sql: (n: number) => string;
  width: number;
}

/** `n` rows in one INSERT, each row's parameters as `insert`'s, row after row. */
export const INSERT_ROWS: RowsSql = {
  sql: (n) => INSERT_INTO + Array(n).fill(INSERT_ROW).join(', '),
  width: 9,
};

/**
 * Completes `n` deliveries in one UPDATE, each guarded as HELD: @now, then per delivery (id,
 * token, started_at, ended_at, worker, result) → [id, name] of each message whose lock was held.
 * The successful attempt lives in the row itself (locked_at, ended_at, locked_by), not in an
 * attempts row: one write fewer on the hottest path. The VALUES are scanned and each message
 * found through its primary key.
 */
export const COMPLETE_ROWS: RowsSql = {
  sql: (n) => `UPDATE messages AS m SET state = 'completed', completed_at = @now, locked_at = v.column3,
      ended_at = v.column4, locked_by = v.column5, result = v.column6, lock_token = NULL,
      attempt_count = m.attempt_count + 1
    FROM (VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?)').join(', ')}) AS v
    WHERE m.id = v.column1 AND m.state = 'locked' AND m.lock_token = v.column2 AND m.locked_until > @now
    RETURNING id, name`,
  width: 6,
};

/**
 * Runs rows through a multi-row statement, ROWS_PER_STATEMENT rows a statement, all or none: one
 * statement is atomic by itself, more go in a savepoint. The rows' parameters come flat, `width`
 * a row; parameters every row shares are bound by name. A statement for each row count is
 * prepared on first use (batches come in every size); one that answers rows answers arrays.
 */
export class RowStatements {
  private readonly byCount: Database.Statement[] = [];
  private readonly together: (values: unknown[], shared?: object) => unknown[];

  constructor(
    private readonly db: Database.Database,
    private readonly rows: RowsSql,
  ) {
    this.together = db.transaction((values: unknown[], shared?: object) => this.chunks(values, shared));
  }

  /** → the rows the statements answered (none for a statement that answers none). */
  run(values: unknown[], shared?: object): unknown[] {
    if (values.length === 0) return [];
    const one = values.length <= ROWS_PER_STATEMENT * this.rows.width;
    return one ? this.exec(values, shared) : this.together(values, shared);
  }

  private chunks(values: unknown[], shared?: object): unknown[] {
    const per = ROWS_PER_STATEMENT * this.rows.width;
    const out: unknown[] = [];
    for (let i = 0; i < values.length; i += per) out.push(...this.exec(values.slice(i, i + per), shared));
    return out;
  }

  private exec(values: unknown[], shared?: object): unknown[] {
    const n = values.length / this.rows.width;
    let st = this.byCount[n];
    if (!st) {
      st = this.db.prepare(this.rows.sql(n));
      if (st.reader) st.raw(true);
      this.byCount[n] = st;
    }
    const params = shared ? [values, shared] : [values];
    if (st.reader) return st.all(...params);
    st.run(...params);
    return [];
  }
}

const SQL = {
  // id, name, body, content_type, now, visible_at, expires_at, idempotency_key, traceparent
  insert: INSERT_INTO + INSERT_ROW,
  // name, key, since → message_id of a key used within the window
  idemGet: 'SELECT message_id FROM idempotency WHERE name = ? AND key = ? AND created_at > ?',
  // INSERT OR REPLACE: an expired key row (older than the window) is taken over.
  idemPut: 'INSERT OR REPLACE INTO idempotency (name, key, message_id, created_at) VALUES (?, ?, ?, ?)',

  // @name, @now, @until, @worker, @limit, @token → locked rows. Oldest visible first through
  // the partial index messages_ready; a fresh random token per receive, so a stale holder (whose
  // lock expired and was taken by a later receive) can never settle.
  // Only the columns a worker needs and does not know already (name, token and lock expiry are
  // the ones it sent), as arrays (RAW): building 22-column rows cost a quarter of the receive
  // time, and a row object costs better-sqlite3 a property definition per column.
  // → [id, body, content_type, delivery_count, enqueued_at, traceparent] per row.
  receive: `UPDATE messages SET state = 'locked', lock_token = @token,
        locked_at = @now, locked_until = @until, locked_by = @worker, delivery_count = delivery_count + 1
      WHERE id IN (SELECT id FROM messages WHERE state = 'ready' AND name = @name AND visible_at <= @now
        AND (expires_at IS NULL OR expires_at > @now) ORDER BY visible_at, id LIMIT @limit)
      RETURNING id, body, content_type, delivery_count, enqueued_at, traceparent`,
  // locked_until, id, token, now
  renew: `UPDATE messages SET locked_until = ? WHERE ${HELD}`,
  // minute, name, n → adds a batch's completions of one task to its minute.
  countCompleted: `INSERT INTO completion_counts (minute, name, n) VALUES (?, ?, ?)
      ON CONFLICT (minute, name) DO UPDATE SET n = n + excluded.n`,
  // visible_at, id, token, now
  abandon: `UPDATE messages SET state = 'ready', visible_at = ?, lock_token = NULL,
      attempt_count = attempt_count + 1 WHERE ${HELD} RETURNING attempt_count, name`,
  // reason, description, now, id, token, now
  deadLetter: `UPDATE messages SET state = 'deadlettered', dead_letter_reason = ?,
      dead_letter_description = ?, deadlettered_at = ?, lock_token = NULL, attempt_count = attempt_count + 1
      WHERE ${HELD} RETURNING attempt_count, name`,
  // message_id, number, started_at, ended_at, worker, error
  attempt: 'INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?)',
  // progress, id, token, now
  progress: `UPDATE messages SET progress = ? WHERE ${HELD}`,

  // now, limit → expired locks, oldest first, through messages_locked
  expired: `SELECT * FROM messages WHERE state = 'locked' AND locked_until <= ?
      ORDER BY locked_until LIMIT ?`,
  // visible_at, id, token, now
  rescueRetry: `UPDATE messages SET state = 'ready', visible_at = ?, lock_token = NULL,
      attempt_count = attempt_count + 1 WHERE ${EXPIRED} RETURNING attempt_count, name`,
  // reason, description, now, id, token, now
  rescueDeadLetter: `UPDATE messages SET state = 'deadlettered', dead_letter_reason = ?,
      dead_letter_description = ?, deadlettered_at = ?, lock_token = NULL, attempt_count = attempt_count + 1
      WHERE ${EXPIRED} RETURNING attempt_count, name`,
  // now, now, limit → dead-lettered ids, through messages_ttl
  expireTtl: `UPDATE messages SET state = 'deadlettered', dead_letter_reason = 'TTLExpiredException',
        dead_letter_description = 'the message expired before it was delivered', deadlettered_at = ?
      WHERE id IN (SELECT id FROM messages WHERE state = 'ready' AND expires_at IS NOT NULL AND expires_at <= ?
        LIMIT ?) RETURNING id, name`,

  get: 'SELECT * FROM messages WHERE id = ?',
  attempts: 'SELECT * FROM attempts WHERE message_id = ? ORDER BY number',
  history: 'SELECT at, type, data FROM history WHERE message_id = ? ORDER BY seq',
  addHistory: 'INSERT INTO history (message_id, at, type, data) VALUES (?, ?, ?, ?)',

  dlqIds: `SELECT id FROM messages WHERE name = ? AND ${STATE_WHERE.deadlettered} ORDER BY enqueued_at, id`,
  // @to, @now, @edit, @body, @ct, @id — same id, deliveryCount 0, TTL cleared.
  resubmit: `UPDATE messages SET name = @to, state = 'ready', visible_at = @now, delivery_count = 0,
      expires_at = NULL, dead_letter_reason = NULL, dead_letter_description = NULL, deadlettered_at = NULL,
      body = CASE WHEN @edit THEN @body ELSE body END, content_type = CASE WHEN @edit THEN @ct ELSE content_type END
      WHERE id = @id`,
  purgeOne: `DELETE FROM messages WHERE id = ? AND name = ? AND state = 'deadlettered'`,
  // reason, description, now, id, now → only a message not running (ready, or a lock that expired).
  cancel: `UPDATE messages SET state = 'deadlettered', dead_letter_reason = ?, dead_letter_description = ?,
      deadlettered_at = ?, lock_token = NULL WHERE id = ? AND (state = 'ready' OR (state = 'locked' AND locked_until <= ?))
      RETURNING name`,
  deleteMessage: 'DELETE FROM messages WHERE id = ?',
  deleteAttempts: 'DELETE FROM attempts WHERE message_id = ?',
  deleteHistory: 'DELETE FROM history WHERE message_id = ?',

  // Settled states through their covering indexes (no table reads).
  countSettled: COUNT_SETTLED,
  // Active states: few rows, each state through its partial index (messages_ready,
  // messages_locked); the driver adds the two. An expired lock counts as queued.
  countReady: `SELECT name, sum(visible_at > @now) AS scheduled, sum(visible_at <= @now) AS queued, 0 AS running,
        min(CASE WHEN visible_at <= @now THEN enqueued_at END) AS oldest
      FROM messages WHERE state = 'ready' GROUP BY name`,
  countLocked: `SELECT name, 0 AS scheduled, sum(locked_until <= @now) AS queued, sum(locked_until > @now) AS running,
        min(CASE WHEN locked_until <= @now THEN enqueued_at END) AS oldest
      FROM messages WHERE state = 'locked' GROUP BY name`,
  // @since, @now, @bucket → per task and bucket: completions, from the minutes of completion_counts.
  activityCompleted: `SELECT name, CAST((minute - @since) / @bucket AS INTEGER) AS b, sum(n) AS n
      FROM completion_counts WHERE minute >= @since AND minute <= @now GROUP BY name, b`,
  // Same for dead letters, through messages_deadlettered.
  activityDeadLettered: `SELECT name, CAST((deadlettered_at - @since) / @bucket AS INTEGER) AS b, count(*) AS n FROM messages
      WHERE state = 'deadlettered' AND deadlettered_at >= @since AND deadlettered_at <= @now GROUP BY name, b`,
  // Failed attempts through attempts_failed; the join finds each attempt's task name.
  activityFailed: `SELECT m.name AS name, CAST((a.ended_at - @since) / @bucket AS INTEGER) AS b, count(*) AS n
      FROM attempts a JOIN messages m ON m.id = a.message_id
      WHERE a.error IS NOT NULL AND a.ended_at >= @since AND a.ended_at <= @now GROUP BY m.name, b`,
  // name → the next task name with completed messages, through messages_completed_by_name.
  nextCompletedName: `SELECT name FROM messages WHERE state = 'completed' AND name > ? ORDER BY name LIMIT 1`,
  // name, cutoff, cutoff, limit → completed before the cutoff, through messages_completed_by_name:
  // a message completes after its enqueue, so those are among the ones enqueued before the cutoff.
  oldCompleted: `SELECT id FROM messages WHERE name = ? AND ${STATE_WHERE.completed} AND enqueued_at < ?
      AND completed_at < ? ORDER BY enqueued_at LIMIT ?`,
  // cutoff → the minutes of completion_counts wholly before it.
  oldCounts: `DELETE FROM completion_counts WHERE minute <= ? - ${MINUTE_MS}`,
  oldKeys: `DELETE FROM idempotency WHERE (name, key) IN
      (SELECT name, key FROM idempotency WHERE created_at < ? LIMIT ?)`,
  // name, now → earliest future visibility
  nextVisible: `SELECT min(visible_at) AS v FROM messages WHERE state = 'ready' AND name = ? AND visible_at > ?`,

  getSetting: 'SELECT value FROM settings WHERE key = ?',
  initSetting: 'INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)',
  createKey: 'INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?)',
  listKeys: 'SELECT * FROM api_keys ORDER BY created_at',
  findKey: 'SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL',
  revokeKey: 'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
};

export type StatementName = keyof typeof SQL;

/** Statements that answer arrays instead of objects. */
const RAW: StatementName[] = ['receive'];

export function makeStatements(db: Database.Database): Record<StatementName, Database.Statement> {
  const out = {} as Record<StatementName, Database.Statement>;
  for (const k of Object.keys(SQL) as StatementName[]) out[k] = db.prepare(SQL[k]);
  for (const k of RAW) out[k].raw(true);
  return out;
}

/** A row of `receive` (RAW). */
export type ReceivedRow = [string, string | Buffer, string | null, number, number, string | null];
