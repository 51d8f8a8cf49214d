/**
 * Every PostgreSQL statement of the driver, built once per schema by a pure function. Each has a
 * short header: parameters → result, and why it is shaped so. Parameters carry explicit casts so
 * the server never has to guess a type, and a whole batch travels as parallel arrays unnested
 * server-side: one round trip per batch, whatever its size.
 */

import type { MessageState } from '../../types.ts';
import { DEADLETTER_EVENT_TASK, MINUTE_MS } from '../common.ts';
import type { MessageRow } from '../rows.ts';

/**
 * Settle guard: the token is current and the lock has not expired. A token is set only while a
 * message is locked (the messages_lock_token constraint), so the state is not tested: with it, the
 * planner's generic plan read every lock of every worker through messages_locked for each batch
 * (a batch of 500 took ~30% longer with 5,000 messages locked elsewhere, and it grows with the
 * number of workers). The settle statements find their rows through the primary key instead
 * (BY_ID: an index condition; a plain join could plan a scan).
 */
const HELD = `m.lock_token = i.token AND m.locked_until > $1::bigint`;
/** Each item's row by its primary key: an index condition on the whole batch, then the join. */
const BY_ID = 'm.id = ANY (ARRAY(SELECT id FROM i)) AND m.id = i.id';
/** The items no row was changed for: they lost their lock. */
const LOST = 'SELECT ord AS lost FROM i WHERE ord NOT IN (SELECT ord FROM done)';
/** Rescue guard: still locked with that token and the lock is still expired (a late renew wins). */
const EXPIRED = `m.lock_token = i.token AND m.locked_until <= $1::bigint`;

/** SQL for each visible state, with `$2` = now. A lock that expired counts as queued (SPEC §4). */
const STATE_WHERE: Record<MessageState, string> = {
  scheduled: `(m.state = 'ready' AND m.visible_at > $2)`,
  queued: `((m.state = 'ready' AND m.visible_at <= $2) OR (m.state = 'locked' AND m.locked_until <= $2))`,
  running: `(m.state = 'locked' AND m.locked_until > $2)`,
  // `$2` is named in every entry so PostgreSQL can type the parameter of every prepared browse.
  completed: `(m.state = 'completed' AND $2::bigint IS NOT NULL)`,
  deadlettered: `(m.state = 'deadlettered' AND $2::bigint IS NOT NULL)`,
};

/**
 * Columns are always listed, never `*`: a prepared `SELECT *` fails with "cached plan must not
 * change result type" in every running process once another process migrates in a new column.
 */
const MESSAGE_COLUMNS = `m.id, m.name, m.state, m.body, m.body_bytes, m.content_type, m.delivery_count,
  m.attempt_count, m.enqueued_at, m.visible_at, m.expires_at, m.lock_token, m.locked_at, m.locked_until,
  m.locked_by, m.completed_at, m.ended_at, m.result, m.progress, m.dead_letter_reason, m.dead_letter_description,
  m.deadlettered_at, m.idempotency_key, m.traceparent`;
const KEY_COLUMNS = 'id, label, scope, task, hash, created_at, revoked_at';

/** A message with its attempts and history as JSON arrays, for getMessage and browse. */
const record = (s: string) => `${MESSAGE_COLUMNS},
  (SELECT coalesce(json_agg(json_build_object('number', a.number, 'startedAt', a.started_at,
      'endedAt', a.ended_at, 'worker', a.worker, 'error', a.error::json) ORDER BY a.number), '[]')
    FROM ${s}.attempts a WHERE a.message_id = m.id) AS attempts_json,
  (SELECT coalesce(json_agg(json_build_object('at', h.at, 'type', h.type, 'data', h.data::json)
      ORDER BY h.seq), '[]')
    FROM ${s}.history h WHERE h.message_id = m.id) AS history_json`;

/**
 * Adds the completions among `rows` (a CTE with name, filtered by `where`) to this connection's
 * counter of the current minute ($1 = now): one upsert per task name per batch.
 */
const countCompletions = (s: string, rows: string, where = 'true') => `
  INSERT INTO ${s}.completion_counts AS c (minute, name, shard, n)
  SELECT $1::bigint / ${MINUTE_MS} * ${MINUTE_MS}, name, pg_backend_pid(), count(*) FROM ${rows}
  WHERE ${where} GROUP BY name
  ON CONFLICT (minute, name, shard) DO UPDATE SET n = c.n + excluded.n`;

/**
 * Complete, abandon or dead-letter a batch in one statement, guarded per row. Used by settle
 * (guard HELD) and rescue (guard EXPIRED, kinds 'abandon' and 'deadletter').
 * $1 now, $2 the batch as a JSON array of objects (kind, id, token, result, visible_at, reason,
 * description, started_at, ended_at, worker, error, event_id, ord), $3 dead-letter events on,
 * $4 channel → one row per item that lost its lock (its ord), and one per notification sent
 * (ord null). A healthy batch answers no item rows: nothing to parse on the hot path.
 * One JSON parameter instead of a dozen parallel arrays: serialising it is one native
 * JSON.stringify, where arrays were escaped element by element in JavaScript.
 * The attempt is numbered by attempt_count, which survives resubmits; a successful one is kept in
 * the message row itself (locked_at, ended_at, locked_by), a failed one in attempts. A
 * dead-lettered message of a public task may enqueue a `$deadletter` event (the outbox) in the
 * same statement, completions are counted (completion_counts), and every message made visible
 * now is announced with pg_notify (delivered on commit, deduplicated per transaction by the
 * server). Nothing else is: a notification for every completion batch would still take the
 * server's notify lock at commit and wake every listener.
 */
const settleBatch = (s: string, guard: string) => `
WITH i AS (
  SELECT * FROM json_to_recordset($2::json) AS t(kind text, id text, token text, result text,
    visible_at bigint, reason text, description text, started_at bigint, ended_at bigint, worker text,
    error text, event_id text, ord integer)
), done AS (
  UPDATE ${s}.messages m SET
    state = CASE i.kind WHEN 'complete' THEN 'completed' WHEN 'abandon' THEN 'ready' ELSE 'deadlettered' END,
    completed_at = CASE WHEN i.kind = 'complete' THEN $1::bigint ELSE m.completed_at END,
    locked_at = CASE WHEN i.kind = 'complete' THEN i.started_at ELSE m.locked_at END,
    ended_at = CASE WHEN i.kind = 'complete' THEN i.ended_at ELSE m.ended_at END,
    locked_by = CASE WHEN i.kind = 'complete' THEN i.worker ELSE m.locked_by END,
    result = CASE WHEN i.kind = 'complete' THEN i.result ELSE m.result END,
    visible_at = CASE WHEN i.kind = 'abandon' THEN i.visible_at ELSE m.visible_at END,
    dead_letter_reason = CASE WHEN i.kind = 'deadletter' THEN i.reason ELSE m.dead_letter_reason END,
    dead_letter_description = CASE WHEN i.kind = 'deadletter' THEN i.description
      ELSE m.dead_letter_description END,
    deadlettered_at = CASE WHEN i.kind = 'deadletter' THEN $1::bigint ELSE m.deadlettered_at END,
    lock_token = NULL,
    attempt_count = m.attempt_count + 1
  FROM i
  WHERE ${BY_ID} AND ${guard}
  RETURNING m.id, m.name, m.attempt_count, i.ord, i.kind, i.visible_at, i.reason, i.started_at,
    i.ended_at, i.worker, i.error, i.event_id
), attempt AS (
  INSERT INTO ${s}.attempts (message_id, number, started_at, ended_at, worker, error)
  SELECT id, attempt_count, started_at, ended_at, worker, error FROM done WHERE kind <> 'complete'
  ON CONFLICT (message_id, number) DO UPDATE SET started_at = excluded.started_at,
    ended_at = excluded.ended_at, worker = excluded.worker, error = excluded.error
), event AS (
  INSERT INTO ${s}.messages (id, name, state, body, enqueued_at, visible_at)
  SELECT event_id, '${DEADLETTER_EVENT_TASK}', 'ready',
    json_build_object('id', id, 'name', name, 'reason', reason)::text, $1::bigint, $1::bigint
  FROM done WHERE kind = 'deadletter' AND $3::boolean AND left(name, 1) <> '$'
), counted AS (${countCompletions(s, 'done', "kind = 'complete'")}
)
SELECT lost, NULL AS notified FROM (${LOST}) l
UNION ALL
SELECT NULL, pg_notify($4::text, wake) FROM (
  SELECT CASE
      WHEN kind = 'abandon' AND visible_at <= $1::bigint THEN name
      WHEN kind = 'deadletter' AND $3::boolean AND left(name, 1) <> '$' THEN '${DEADLETTER_EVENT_TASK}'
    END AS wake
  FROM done) d
WHERE wake IS NOT NULL`;

/**
 * Complete a batch of successful deliveries: the settle of a healthy worker, nearly every batch.
 * $1 now, $2 the batch as JSON, grouped by lock token (completeParams: groups of k token, b first
 * position, m items of i id, s and e the attempt's start and end in ms before $1, r the result
 * unless null), $3 the worker → the 1-based positions (ords) of items that lost their lock (none
 * on the healthy path).
 * The general statement above does the same for completions; this one leaves out what only
 * failures need (the kind of each item, the CASE per column, the attempts and event inserts,
 * the notifications), which was a tenth of the server's time per settled message. Completions are
 * counted as in settleBatch.
 */
const completeBatch = (s: string) => `
WITH i AS (
  SELECT t.i AS id, g.k AS token, coalesce(t.r, 'null') AS result, $1::bigint - t.s AS started_at,
    $1::bigint - t.e AS ended_at, (g.b + t.o)::integer AS ord
  FROM json_to_recordset($2::json) AS g(k text, b integer, m json),
    ROWS FROM (json_to_recordset(g.m) AS (i text, r text, s bigint, e bigint))
      WITH ORDINALITY AS t(i, r, s, e, o)
), done AS (
  UPDATE ${s}.messages m SET state = 'completed', completed_at = $1::bigint, locked_at = i.started_at,
    ended_at = i.ended_at, locked_by = $3::text, result = i.result, lock_token = NULL,
    attempt_count = m.attempt_count + 1
  FROM i
  WHERE ${BY_ID} AND ${HELD}
  RETURNING i.ord, m.name
), counted AS (${countCompletions(s, 'done')}
)
${LOST}`;

export function makeSql(s: string) {
  return {
    // $1..$10 parallel arrays (id, name, body, body_bytes, content_type, enqueued_at, visible_at,
    // expires_at, idempotency_key, traceparent), $11 channel → nothing. One statement, so it
    // commits alone (autocommit) or with the caller's transaction; names visible at their
    // enqueue time are announced on commit. Rows may come from several callers (group commit).
    insert: `
WITH ins AS (
  INSERT INTO ${s}.messages (id, name, state, body, body_bytes, content_type, enqueued_at, visible_at,
      expires_at, idempotency_key, traceparent)
  SELECT id, name, 'ready', body, body_bytes, content_type, enqueued_at, visible_at, expires_at,
      idempotency_key, traceparent
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::bigint[], $7::bigint[],
      $8::bigint[], $9::text[], $10::text[])
    AS t(id, name, body, body_bytes, content_type, enqueued_at, visible_at, expires_at, idempotency_key,
      traceparent)
  RETURNING name, visible_at, enqueued_at
)
SELECT pg_notify($11::text, name) FROM (SELECT DISTINCT name FROM ins WHERE visible_at <= enqueued_at) n`,

    // $1 name, $2 key, $3 message id, $4 now, $5 window start → message_id when this message
    // claimed the key (new, or an expired key taken over); no row when a live key exists.
    // A concurrent claimer of the same key waits for the first to commit, then gets no row.
    idemClaim: `INSERT INTO ${s}.idempotency AS k (name, key, message_id, created_at)
      VALUES ($1::text, $2::text, $3::text, $4::bigint)
      ON CONFLICT (name, key) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at
        WHERE k.created_at <= $5::bigint
      RETURNING message_id`,
    // $1 name, $2 key → the message that holds the key (read in a fresh snapshot after a claim lost).
    idemGet: `SELECT message_id FROM ${s}.idempotency WHERE name = $1::text AND key = $2::text`,

    // $1 name, $2 now, $3 limit, $4 locked_until, $5 worker, $6 token → the locked rows (unordered),
    // only the columns the caller does not already know (name, token and lock expiry it sent).
    // SKIP LOCKED: concurrent receivers take disjoint rows without waiting on each other; the
    // index messages_ready (name, visible_at, id) gives oldest-visible-first without a sort.
    // The token is fresh per receive (128 random bits), so a stale holder can never settle.
    // The picked rows are handed to the UPDATE as an array of their physical addresses (ctid), so
    // it reads each row straight from its page (a TID scan): by id, it went down the primary key
    // once per row for rows the inner scan had just found (~13% of a receive's server CPU, batches
    // of 400); joined to a CTE instead, the planner hashed the whole table every receive. The
    // addresses are those of the versions the inner scan locked, and nobody else can change a row
    // this statement holds the lock of. A row whose locked version the statement's snapshot cannot
    // see (changed by a commit after the statement began, and still waiting) is left out: it stays
    // waiting for the next receive, never lost.
    receive: `
UPDATE ${s}.messages m SET state = 'locked', lock_token = $6::text,
  locked_at = $2::bigint, locked_until = $4::bigint, locked_by = $5::text,
  delivery_count = m.delivery_count + 1
WHERE m.ctid = ANY (ARRAY(
  SELECT ctid FROM ${s}.messages
  WHERE state = 'ready' AND name = $1::text AND visible_at <= $2::bigint
    AND (expires_at IS NULL OR expires_at > $2::bigint)
  ORDER BY visible_at, id
  LIMIT $3::integer
  FOR UPDATE SKIP LOCKED))
RETURNING m.id, m.body, m.body_bytes, m.content_type, m.delivery_count, m.enqueued_at, m.traceparent`,

    // $1 locked_until, $2 id, $3 token, $4 now → one row when renewed.
    renew: `UPDATE ${s}.messages SET locked_until = $1::bigint
      WHERE id = $2::text AND state = 'locked' AND lock_token = $3::text AND locked_until > $4::bigint
      RETURNING 1`,
    // $1 progress JSON, $2 id, $3 token, $4 now → one row when the token is current.
    progress: `UPDATE ${s}.messages SET progress = $1::text
      WHERE id = $2::text AND state = 'locked' AND lock_token = $3::text AND locked_until > $4::bigint
      RETURNING 1`,

    settle: settleBatch(s, HELD),
    complete: completeBatch(s),
    rescue: settleBatch(s, EXPIRED),

    // $1 now, $2 limit → expired locks, oldest first, through messages_locked.
    expired: `SELECT id, name, lock_token, delivery_count, locked_at, locked_until, locked_by
      FROM ${s}.messages WHERE state = 'locked' AND locked_until <= $1::bigint
      ORDER BY locked_until LIMIT $2::integer`,
    // $1 now, $2 limit → dead-lettered (id, name), through messages_ttl. SKIP LOCKED: rescuers on
    // many workers split the work instead of queueing behind each other.
    expireTtl: `UPDATE ${s}.messages SET state = 'deadlettered', dead_letter_reason = 'TTLExpiredException',
        dead_letter_description = 'the message expired before it was delivered', deadlettered_at = $1::bigint
      WHERE id IN (SELECT id FROM ${s}.messages
        WHERE state = 'ready' AND expires_at IS NOT NULL AND expires_at <= $1::bigint
        LIMIT $2::integer FOR UPDATE SKIP LOCKED)
      RETURNING id, name`,

    // $1 id → the message with attempts_json and history_json, or no row.
    get: `SELECT ${record(s)} FROM ${s}.messages m WHERE m.id = $1::text`,
    // Per state: $1 name, $2 now, $3 cursor enqueued_at, $4 cursor id, $5 limit → newest first,
    // settled states each through its own index, messages_completed_by_name or
    // messages_deadlettered_by_name (the row comparison is one index range), active
    // ones through messages_ready and messages_locked.
    browse: Object.fromEntries(
      Object.entries(STATE_WHERE).map(([state, where]) => [
        state,
        `SELECT ${record(s)} FROM ${s}.messages m WHERE m.name = $1::text AND ${where}
          AND (m.enqueued_at, m.id) < ($3::bigint, $4::text)
          ORDER BY m.enqueued_at DESC, m.id DESC LIMIT $5::integer`,
      ]),
    ) as Record<MessageState, string>,

    // $1 id, $2 at, $3 type, $4 data JSON.
    addHistory: `INSERT INTO ${s}.history (message_id, at, type, data)
      VALUES ($1::text, $2::bigint, $3::text, $4::text)`,

    // $1 name, $2 all, $3 ids, $4 to, $5 now, $6 edit, $7 body, $8 body_bytes, $9 content_type,
    // $10 event JSON, $11 channel → (id, enqueued_at) per message moved. FOR UPDATE rechecks the
    // state after waiting, so two operators resubmitting at once move each message once.
    resubmit: `
WITH t AS (
  SELECT id, name, enqueued_at, dead_letter_reason, dead_letter_description FROM ${s}.messages
  WHERE name = $1::text AND state = 'deadlettered' AND ($2::boolean OR id = ANY($3::text[]))
  FOR UPDATE
), moved AS (
  UPDATE ${s}.messages m SET name = $4::text, state = 'ready', visible_at = $5::bigint, delivery_count = 0,
    expires_at = NULL, dead_letter_reason = NULL, dead_letter_description = NULL, deadlettered_at = NULL,
    body = CASE WHEN $6::boolean THEN $7::text ELSE m.body END,
    body_bytes = CASE WHEN $6::boolean THEN $8::bytea ELSE m.body_bytes END,
    content_type = CASE WHEN $6::boolean THEN $9::text ELSE m.content_type END
  FROM t WHERE m.id = t.id
  RETURNING t.id, t.name, t.enqueued_at, t.dead_letter_reason, t.dead_letter_description
), history AS (
  INSERT INTO ${s}.history (message_id, at, type, data)
  SELECT id, $5::bigint, 'resubmitted', (jsonb_build_object('reason', dead_letter_reason,
      'description', dead_letter_description, 'from', name, 'to', $4::text, 'bodyEdited', $6::boolean)
    || $10::jsonb)::text
  FROM moved
)
SELECT id, enqueued_at, pg_notify($11::text, $4::text) FROM moved`,

    // $1 name, $2 all, $3 ids → n purged; attempts and history go in the same statement.
    purge: `
WITH del AS (
  DELETE FROM ${s}.messages WHERE name = $1::text AND state = 'deadlettered'
    AND ($2::boolean OR id = ANY($3::text[]))
  RETURNING id
), a AS (DELETE FROM ${s}.attempts WHERE message_id IN (SELECT id FROM del)),
h AS (DELETE FROM ${s}.history WHERE message_id IN (SELECT id FROM del))
SELECT count(*) AS n FROM del`,

    // $1 reason, $2 description, $3 now, $4 id → one row when cancelled: only a message not
    // running (ready, or a lock that expired), with a history event.
    cancel: `
WITH c AS (
  UPDATE ${s}.messages SET state = 'deadlettered', dead_letter_reason = $1::text,
    dead_letter_description = $2::text, deadlettered_at = $3::bigint, lock_token = NULL
  WHERE id = $4::text AND (state = 'ready' OR (state = 'locked' AND locked_until <= $3::bigint))
  RETURNING id
), h AS (
  INSERT INTO ${s}.history (message_id, at, type, data) SELECT id, $3::bigint, 'cancelled', '{}' FROM c
)
SELECT id FROM c`,

    // → (name, state, n). Each settled state through its own index (index-only when vacuumed).
    countSettled: `SELECT name, 'completed' AS state, count(*) AS n FROM ${s}.messages
      WHERE state = 'completed' GROUP BY name
      UNION ALL
      SELECT name, 'deadlettered', count(*) FROM ${s}.messages WHERE state = 'deadlettered' GROUP BY name`,
    // $1 now → per name. Active states: few rows, through the partial indexes (an OR, not an IN,
    // so the planner can combine messages_ready and messages_locked).
    countActive: `SELECT name,
        count(*) FILTER (WHERE state = 'ready' AND visible_at > $1::bigint) AS scheduled,
        count(*) FILTER (WHERE (state = 'ready' AND visible_at <= $1::bigint)
          OR (state = 'locked' AND locked_until <= $1::bigint)) AS queued,
        count(*) FILTER (WHERE state = 'locked' AND locked_until > $1::bigint) AS running,
        min(enqueued_at) FILTER (WHERE (state = 'ready' AND visible_at <= $1::bigint)
          OR (state = 'locked' AND locked_until <= $1::bigint)) AS oldest
      FROM ${s}.messages WHERE state = 'ready' OR state = 'locked' GROUP BY name`,

    // $1 since, $2 now, $3 bucket ms → (kind, name, b, n): per task and bucket index, completions
    // (completion_counts, by the minute), dead letters (messages_deadlettered) and failed
    // attempts (attempts_failed, joined for the task name). One round trip for the three counts.
    activity: `
SELECT 'completed' AS kind, name, (minute - $1::bigint) / $3::bigint AS b, sum(n) AS n
FROM ${s}.completion_counts WHERE minute >= $1::bigint AND minute <= $2::bigint
GROUP BY 2, 3
UNION ALL
SELECT 'deadlettered', name, (deadlettered_at - $1::bigint) / $3::bigint, count(*)
FROM ${s}.messages WHERE state = 'deadlettered' AND deadlettered_at >= $1::bigint AND deadlettered_at <= $2::bigint
GROUP BY 2, 3
UNION ALL
SELECT 'failed', m.name, (a.ended_at - $1::bigint) / $3::bigint, count(*)
FROM ${s}.attempts a JOIN ${s}.messages m ON m.id = a.message_id
WHERE a.error IS NOT NULL AND a.ended_at >= $1::bigint AND a.ended_at <= $2::bigint
GROUP BY 2, 3`,

    // $1 completed cutoff, $2 limit, $3 key cutoff → (messages, keys) deleted. SKIP LOCKED so
    // maintenance on several workers never blocks; bounded by $2 rows of each kind per call.
    // Old completions are found per task name in messages_completed_by_name (names by a loose
    // index scan of it): a message completes after its enqueue, so those completed before the
    // cutoff are among those enqueued before it. The minutes of completion_counts wholly before
    // the cutoff go too.
    maintain: `
WITH RECURSIVE n AS (
  (SELECT name FROM ${s}.messages WHERE state = 'completed' ORDER BY name LIMIT 1)
  UNION ALL
  SELECT (SELECT m.name FROM ${s}.messages m WHERE m.state = 'completed'
    AND m.name > n.name ORDER BY m.name LIMIT 1)
  FROM n WHERE n.name IS NOT NULL
), old AS (
  SELECT o.id FROM n CROSS JOIN LATERAL (
    SELECT id FROM ${s}.messages
    WHERE name = n.name AND state = 'completed' AND enqueued_at < $1::bigint AND completed_at < $1::bigint
    ORDER BY enqueued_at LIMIT $2::integer FOR UPDATE SKIP LOCKED
  ) o
  LIMIT $2::integer
), counts AS (
  DELETE FROM ${s}.completion_counts WHERE minute <= $1::bigint - ${MINUTE_MS}
), del AS (
  DELETE FROM ${s}.messages m USING old WHERE m.id = old.id RETURNING m.id
), a AS (DELETE FROM ${s}.attempts WHERE message_id IN (SELECT id FROM del)),
h AS (DELETE FROM ${s}.history WHERE message_id IN (SELECT id FROM del)),
k AS (
  DELETE FROM ${s}.idempotency WHERE (name, key) IN (SELECT name, key FROM ${s}.idempotency
    WHERE created_at < $3::bigint LIMIT $2::integer FOR UPDATE SKIP LOCKED)
  RETURNING 1
)
SELECT (SELECT count(*) FROM del) AS messages, (SELECT count(*) FROM k) AS keys`,

    // $1 names, $2 now → earliest future visibility, through messages_ready.
    nextVisible: `SELECT min(visible_at) AS v FROM ${s}.messages
      WHERE state = 'ready' AND name = ANY($1::text[]) AND visible_at > $2::bigint`,
    // → every task name with a waiting message: a loose index scan of messages_ready, one probe
    // per name (a plain DISTINCT would read every waiting row; a backlog can be millions).
    waitingNames: `
WITH RECURSIVE n AS (
  (SELECT name FROM ${s}.messages WHERE state = 'ready' ORDER BY name LIMIT 1)
  UNION ALL
  SELECT (SELECT name FROM ${s}.messages WHERE state = 'ready' AND name > n.name ORDER BY name LIMIT 1)
  FROM n WHERE n.name IS NOT NULL
)
SELECT name FROM n WHERE name IS NOT NULL`,

    getSetting: `SELECT value FROM ${s}.settings WHERE key = $1::text`,
    initSetting: `INSERT INTO ${s}.settings (key, value) VALUES ($1::text, $2::text) ON CONFLICT (key) DO NOTHING`,
    createKey: `INSERT INTO ${s}.api_keys (id, label, scope, task, hash, created_at, revoked_at)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint)`,
    listKeys: `SELECT ${KEY_COLUMNS} FROM ${s}.api_keys ORDER BY created_at, id`,
    findKey: `SELECT ${KEY_COLUMNS} FROM ${s}.api_keys WHERE hash = $1::text AND revoked_at IS NULL`,
    revokeKey: `UPDATE ${s}.api_keys SET revoked_at = $1::bigint WHERE id = $2::text AND revoked_at IS NULL
      RETURNING 1`,
  };
}

export type Sql = ReturnType<typeof makeSql>;

/** The columns of a message row as the driver reads them (bigint parsed to number). */
export interface Row extends MessageRow {
  body: string | null;
  body_bytes: Buffer | null;
  attempts_json?: unknown[];
  history_json?: unknown[];
}
