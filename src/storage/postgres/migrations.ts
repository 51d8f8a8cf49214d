/**
 * PostgreSQL schema, as numbered append-only migrations with the same numbering as the SQLite
 * driver (version 1 is the whole initial schema). Never edit a released migration: add one.
 * Each migration is a function of the quoted schema name, so one database can hold several
 * Taskbus installations (and every test its own schema).
 *
 * Stored states, as in SQLite: 'ready' (waiting; scheduled until visible_at), 'locked'
 * (delivered; running until locked_until), 'completed', 'deadlettered'. Times are bigint epoch
 * milliseconds written by the application (`now`), never the database clock.
 *
 * Partial indexes keep the hot paths independent of retained history: with 5 million completed
 * rows and 1,000 waiting, receive walks `messages_ready` (1,000 entries), not the table.
 * `id` and `name` use the "C" collation: UUIDv7 ids then sort bytewise in creation order
 * whatever the database's locale, and comparisons skip the locale machinery.
 */
export interface Migration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'messages',
    sql: (s) => `
-- A queue table churns: every delivery rewrites its row. Vacuum after 2% of the rows changed
-- (default 20%) so dead index entries do not pile up in messages_ready when millions of
-- completed rows are retained.
CREATE TABLE ${s}.messages (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('ready', 'locked', 'completed', 'deadlettered')),
  body text,
  body_bytes bytea,
  content_type text,
  delivery_count integer NOT NULL DEFAULT 0,
  attempt_count integer NOT NULL DEFAULT 0,
  enqueued_at bigint NOT NULL,
  visible_at bigint NOT NULL,
  expires_at bigint,
  lock_token text,
  locked_at bigint,
  locked_until bigint,
  locked_by text,
  completed_at bigint,
  result text,
  progress text,
  dead_letter_reason text,
  dead_letter_description text,
  deadlettered_at bigint,
  idempotency_key text,
  traceparent text,
  -- JSON bodies are text (readable in psql, key order kept); other bodies are bytes + type.
  CHECK ((content_type IS NULL AND body_bytes IS NULL) OR (content_type IS NOT NULL AND body IS NULL))
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX messages_ready ON ${s}.messages (name, visible_at, id) WHERE state = 'ready';
CREATE INDEX messages_locked ON ${s}.messages (locked_until) WHERE state = 'locked';
CREATE INDEX messages_ttl ON ${s}.messages (expires_at) WHERE state = 'ready' AND expires_at IS NOT NULL;
CREATE INDEX messages_completed ON ${s}.messages (completed_at) WHERE state = 'completed';
CREATE INDEX messages_browse ON ${s}.messages (name, state, enqueued_at, id);

CREATE TABLE ${s}.attempts (
  message_id text COLLATE "C" NOT NULL,
  number integer NOT NULL,
  started_at bigint NOT NULL,
  ended_at bigint NOT NULL,
  worker text,
  error text,
  PRIMARY KEY (message_id, number)
);

CREATE TABLE ${s}.history (
  seq bigserial PRIMARY KEY,
  message_id text COLLATE "C" NOT NULL,
  at bigint NOT NULL,
  type text NOT NULL,
  data text NOT NULL
);
CREATE INDEX history_message ON ${s}.history (message_id, seq);

CREATE TABLE ${s}.idempotency (
  name text COLLATE "C" NOT NULL,
  key text NOT NULL,
  message_id text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (name, key)
);
CREATE INDEX idempotency_created ON ${s}.idempotency (created_at);

CREATE TABLE ${s}.settings (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE ${s}.api_keys (
  id text PRIMARY KEY,
  label text NOT NULL,
  scope text NOT NULL,
  task text,
  hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  revoked_at bigint
);
`,
  },
  {
    version: 2,
    name: 'activity indexes',
    // The dashboard's last-hour chart reads outcomes by time. Partial indexes: only dead letters
    // and failed attempts are indexed (completed rows already have messages_completed), so
    // enqueue and successful settles pay nothing for them.
    sql: (s) => `
CREATE INDEX messages_deadlettered ON ${s}.messages (deadlettered_at) WHERE state = 'deadlettered';
CREATE INDEX attempts_failed ON ${s}.attempts (ended_at) WHERE error IS NOT NULL;
`,
  },
  {
    version: 3,
    name: 'rate limits',
    // One row per counter (key × window length), updated in place by every API process: the
    // limit holds across processes. Expired rows are swept; fillfactor leaves room for HOT
    // updates, so a hot counter does not bloat the index.
    sql: (s) => `
CREATE TABLE ${s}.rate_limits (
  key text COLLATE "C" PRIMARY KEY,
  window_start bigint NOT NULL,
  count bigint NOT NULL,
  reset_at bigint NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX rate_limits_reset ON ${s}.rate_limits (reset_at);
`,
  },
  {
    version: 4,
    name: 'lighter hot path',
    // A completion keeps its successful attempt in the row (locked_at, ended_at, locked_by)
    // instead of inserting an attempts row. The browse index covers only settled states: queued
    // and running messages are found through messages_ready and messages_locked, so enqueue,
    // receive and settle no longer add an entry to an index over every message each time.
    sql: (s) => `
ALTER TABLE ${s}.messages ADD COLUMN ended_at bigint;
DROP INDEX ${s}.messages_browse;
CREATE INDEX messages_settled ON ${s}.messages (name, state, enqueued_at, id)
  WHERE state IN ('completed', 'deadlettered');
`,
  },
  {
    version: 5,
    name: 'completion counts',
    // Completions are counted per task and minute in a small table, written once per settle
    // batch, instead of being found through an index on completed_at: that index cost every
    // completion an entry (~5 µs of server time per message), and counting the last hour from it
    // read every completion of the hour (millions at a thousand tasks/s). A row per connection
    // (shard: the backend pid, which runs one transaction at a time) so workers settling at once
    // never wait on each other's counter; n is not indexed, so the increment is a HOT update.
    // Keyed by minute first: the chart and the retention sweep read ranges of minutes.
    // Retention finds old completions through messages_settled (see the maintain statement;
    // messages_completed_by_name since version 7).
    sql: (s) => `
CREATE TABLE ${s}.completion_counts (
  minute bigint NOT NULL,
  name text COLLATE "C" NOT NULL,
  shard integer NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (minute, name, shard)
) WITH (fillfactor = 50);
INSERT INTO ${s}.completion_counts (minute, name, shard, n)
  SELECT completed_at / 60000 * 60000, name, 0, count(*) FROM ${s}.messages WHERE state = 'completed'
  GROUP BY 1, 2;
DROP INDEX ${s}.messages_completed;
`,
  },
  {
    version: 6,
    name: 'lock token only while locked',
    // What every statement already does, now stated: a lock token is set by receive, which locks,
    // and cleared by every change out of 'locked'. The settle guard relies on it (it matches the
    // token and lets the primary key find the row). NOT VALID: rows already stored are not
    // scanned at upgrade; every row written from now on is checked.
    sql: (s) => `
ALTER TABLE ${s}.messages ADD CONSTRAINT messages_lock_token
  CHECK (lock_token IS NULL OR state = 'locked') NOT VALID;
`,
  },
  {
    version: 7,
    name: 'settled indexes per state',
    // One browse index per settled state, keyed (name, enqueued_at, id), in place of one over both
    // keyed (name, state, enqueued_at, id). There, a task's completions were inserted just before
    // its dead letters: in the middle of the index once dead letters were retained, where a full
    // page splits in half and the left half, which no later key falls into, stays half empty,
    // instead of at its right edge, where a split leaves the left page full. Processing with a
    // million finished tasks retained (half of them dead letters) cost the server ~48 µs of CPU a
    // task, against ~35–44 on an empty store; with these indexes ~43, and 1,100 bytes of
    // write-ahead log a task instead of 1,180.
    sql: (s) => `
CREATE INDEX messages_completed_by_name ON ${s}.messages (name, enqueued_at, id) WHERE state = 'completed';
CREATE INDEX messages_deadlettered_by_name ON ${s}.messages (name, enqueued_at, id) WHERE state = 'deadlettered';
DROP INDEX ${s}.messages_settled;
`,
  },
];

/** The newest version this build knows. */
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
