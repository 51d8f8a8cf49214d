/**
 * PostgreSQL migrations: many processes migrating one empty database at once end with one
 * correct schema; a schema newer than this build is refused; the schema may come from the URL;
 * receive stays on its partial index when completed rows pile up and updates the rows it locked by
 * their address; settle finds its rows through the primary key; finished messages are listed,
 * counted and expired through one index per state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isTaskbusError } from '../../src/errors.ts';
import { openDriver } from '../../src/storage/open.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { LATEST_VERSION, MIGRATIONS } from '../../src/storage/postgres/migrations.ts';
import { makeSql } from '../../src/storage/postgres/statements.ts';
import { assertFinishedByState, FINISHED_ROWS } from '../support/finished.ts';
import { T0 } from '../support/messages.ts';
import { adminQuery, POSTGRES_URL, postgresPreflight, postgresUrl, useSchemas } from '../support/postgres.ts';

describe('postgres migrations', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();

  /** A schema as a release with migrations 1 to `version` left it. */
  async function schemaAt(version: number): Promise<string> {
    const schema = schemas.create();
    await adminQuery(`CREATE SCHEMA ${schema}`);
    await adminQuery(`CREATE TABLE ${schema}.schema_migrations
      (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
      await adminQuery(m.sql(schema));
      await adminQuery(`INSERT INTO ${schema}.schema_migrations VALUES ($1, $2, 0)`, [m.version, m.name]);
    }
    return schema;
  }

  /**
   * A migrated schema with `rows` inserted (then analyzed), its driver, and a client that plans
   * as a long-lived connection does: prepared statements, generic plans (the same for any batch).
   */
  async function planned(
    rows: string,
    body: (f: { schema: string; d: PostgresDriver; client: pg.Client }) => Promise<void>,
  ) {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await d.migrate();
      await adminQuery(rows.replaceAll('$schema', schema));
      await adminQuery(`ANALYZE ${schema}.messages`);
      await client.query('SET plan_cache_mode = force_generic_plan');
      await body({ schema, d, client });
    } finally {
      await client.end();
      await d.close();
    }
  }

  it('migrate › five processes migrating a fresh schema at once end with one correct schema', async () => {
    const schema = schemas.create();
    const drivers = Array.from(
      { length: 5 },
      () => new PostgresDriver({ connectionString: POSTGRES_URL, schema, poolSize: 1 }),
    );
    try {
      const results = await Promise.allSettled(drivers.map((d) => d.migrate()));
      assert.deepEqual(
        results.map((r) => r.status),
        Array(5).fill('fulfilled'),
        String(results.find((r) => r.status === 'rejected')?.reason),
      );
      const versions = await adminQuery(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      assert.deepEqual(
        versions.rows.map((r) => r.version),
        MIGRATIONS.map((m) => m.version),
        'each migration applied exactly once',
      );
      const tables = await adminQuery(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      const names = tables.rows.map((r) => r.table_name);
      for (const t of [
        'api_keys',
        'attempts',
        'history',
        'idempotency',
        'messages',
        'schema_migrations',
        'settings',
      ]) {
        assert.ok(names.includes(t), `table ${t} exists`);
      }
      // Every process can use it at once.
      await Promise.all(drivers.map((d) => d.ping()));
      assert.deepEqual(await drivers[4].counts({ now: 0 }), []);
    } finally {
      await Promise.all(drivers.map((d) => d.close()));
    }
  });

  it('migrate › refuses a schema newer than this build with SCHEMA_TOO_NEW', async () => {
    const schema = schemas.create();
    const first = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    await first.migrate();
    await first.close();
    const future = LATEST_VERSION + 7;
    await adminQuery(`INSERT INTO ${schema}.schema_migrations VALUES ($1, 'from the future', 0)`, [future]);
    const older = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await assert.rejects(older.migrate(), (e) => {
        assert.ok(isTaskbusError(e, 'SCHEMA_TOO_NEW'));
        assert.match(e.message, new RegExp(`version ${future}`));
        assert.match(e.message, new RegExp(`only up to ${LATEST_VERSION}`));
        assert.match(e.message, /upgrade Taskbus/);
        return true;
      });
    } finally {
      await older.close();
    }
  });

  it('migrate › completions stored before version 5 still count in the activity chart, by minute', async () => {
    const schema = await schemaAt(4);
    const MIN = 60_000;
    // Three completed messages of a version-4 store: two in the first minute, one in the third.
    for (const [k, at] of [T0 + 10, T0 + 20, T0 + 2 * MIN + 5].entries()) {
      await adminQuery(
        `INSERT INTO ${schema}.messages (id, name, state, body, enqueued_at, visible_at, completed_at)
         VALUES ($1, 'a', 'completed', '1', $2, $2, $2)`,
        [`01a00000-0000-7000-8000-00000000000${k}`, at],
      );
    }
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      assert.deepEqual(await d.activity({ since: T0, now: T0 + 5 * MIN, bucketMs: MIN }), [
        { name: 'a', at: T0, completed: 2, failed: 0, deadlettered: 0 },
        { name: 'a', at: T0 + 2 * MIN, completed: 1, failed: 0, deadlettered: 0 },
      ]);
      const [c] = await d.counts({ now: T0 + 5 * MIN });
      assert.equal(c.completed, 3);
    } finally {
      await d.close();
    }
  });

  it('url › ?schema= and ?pool_size= configure the driver through openDriver (the CLI --db flag)', async () => {
    const schema = schemas.create();
    const app = `tb-test-${schema}`;
    const d = await openDriver(postgresUrl({ schema, pool_size: '2', application_name: app }));
    try {
      assert.equal(d.kind, 'postgres');
      assert.deepEqual(d.capabilities, { multiHost: true, notifications: true, transactionalEnqueue: true });
      await d.migrate();
      const r = await adminQuery('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      assert.equal(r.rowCount, 1);
      await Promise.all(Array.from({ length: 8 }, () => d.counts({ now: 0 })));
      const conns = await adminQuery(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [app],
      );
      assert.ok(conns.rows[0].n <= 2, `at most pool_size connections (${conns.rows[0].n})`);
    } finally {
      await d.close();
    }
    for (const bad of [{ schema: 'Bad-Name' }, { pool_size: '0' }, { pool_size: 'many' }]) {
      assert.throws(
        () => new PostgresDriver({ connectionString: postgresUrl(bad) }),
        (e) => isTaskbusError(e, 'INVALID_CONFIG'),
      );
    }
  });

  it('receive › stays on the partial index with 200,000 completed messages retained', async () => {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      await adminQuery(
        `INSERT INTO ${schema}.messages (id, name, state, body, enqueued_at, visible_at, completed_at)
         SELECT 'c' || g, 'a', 'completed', 'null', g, g, g FROM generate_series(1, 200000) g`,
      );
      await adminQuery(
        `INSERT INTO ${schema}.messages (id, name, state, body, enqueued_at, visible_at)
         SELECT 'r' || g, 'a', 'ready', 'null', g, g FROM generate_series(1, 100) g`,
      );
      await adminQuery(`ANALYZE ${schema}.messages`);
      const plan = await adminQuery(
        `EXPLAIN (FORMAT JSON) SELECT id FROM ${schema}.messages
         WHERE state = 'ready' AND name = 'a' AND visible_at <= 1000 AND (expires_at IS NULL OR expires_at > 1000)
         ORDER BY visible_at, id LIMIT 10 FOR UPDATE SKIP LOCKED`,
      );
      assert.match(JSON.stringify(plan.rows[0]), /"Index Name":"messages_ready"/);
      const got = await d.receive({ name: 'a', limit: 10, lockDurationMs: 1000, workerId: 'w', now: 1000 });
      assert.equal(got.length, 10);
    } finally {
      await d.close();
    }
  });

  it('receive › updates the rows it locked by their address, not through the primary key again', async () => {
    const rows = `INSERT INTO $schema.messages (id, name, state, body, enqueued_at, visible_at)
      SELECT 'r' || g, 'a', 'ready', 'null', g, g FROM generate_series(1, 20000) g`;
    await planned(rows, async ({ schema, d, client }) => {
      const sql = makeSql(pg.escapeIdentifier(schema));
      await client.query('BEGIN');
      await client.query(
        `PREPARE receive_batch (text, bigint, integer, bigint, text, text) AS ${sql.receive}`,
      );
      const plan = await client.query(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE receive_batch ('a', 30000, 400, 90000, 'w', 't')`,
      );
      await client.query('ROLLBACK');
      const root = plan.rows[0]['QUERY PLAN'][0].Plan;
      assert.deepEqual(
        [root['Node Type'], root.Operation, root['Actual Rows']],
        ['ModifyTable', 'Update', 400],
      );
      const text = JSON.stringify(root);
      assert.match(text, /"Node Type":"Tid Scan"/);
      assert.doesNotMatch(text, /messages_pkey/, 'no second lookup of each row by id');
      const got = await d.receive({ name: 'a', limit: 400, lockDurationMs: 1000, workerId: 'w', now: 30000 });
      assert.deepEqual(
        got.map((m) => m.id),
        Array.from({ length: 400 }, (_, k) => `r${k + 1}`).sort(),
      );
    });
  });

  it('settle › finds each message by its primary key, however many messages other workers hold', async () => {
    const rows = `INSERT INTO $schema.messages (id, name, state, body, enqueued_at, visible_at, lock_token, locked_until)
        SELECT 'l' || g, 'a', 'locked', 'null', g, g, 'other', 10000000 FROM generate_series(1, 5000) g;
      INSERT INTO $schema.messages (id, name, state, body, enqueued_at, visible_at)
        SELECT 'r' || g, 'a', 'ready', 'null', g, g FROM generate_series(1, 10) g`;
    await planned(rows, async ({ schema, d, client }) => {
      const got = await d.receive({ name: 'a', limit: 10, lockDurationMs: 1000, workerId: 'w', now: 1000 });
      const sql = makeSql(pg.escapeIdentifier(schema));
      await client.query(`PREPARE complete_batch (bigint, json, text) AS ${sql.complete}`);
      const items = got.map((m, k) => ({
        id: m.id,
        token: m.lockToken,
        result: 'null',
        started_at: 1000,
        ended_at: 1001,
        ord: k + 1,
      }));
      const plan = await client.query(
        `EXPLAIN (FORMAT JSON) EXECUTE complete_batch (1001, '${JSON.stringify(items)}', 'w')`,
      );
      const text = JSON.stringify(plan.rows[0]);
      assert.match(text, /"Index Name":"messages_pkey"/);
      assert.doesNotMatch(text, /messages_locked/, 'not a scan of every lock');
      const settlements = got.map((m) => ({
        kind: 'complete' as const,
        id: m.id,
        lockToken: m.lockToken,
        result: null,
        attempt: { startedAt: 1000, endedAt: 1001, worker: 'w', error: null },
      }));
      assert.deepEqual(await d.settle({ settlements, now: 1001 }), Array(10).fill('ok'));
      const [c] = await d.counts({ now: 1001 });
      assert.deepEqual([c.completed, c.running], [10, 5000]);
    });
  });

  it('migrate › a version-6 store lists, counts and expires its finished messages through one index per state', async () => {
    const schema = await schemaAt(6);
    await adminQuery(
      `INSERT INTO ${schema}.messages (id, name, state, body, enqueued_at, visible_at, completed_at,
         deadlettered_at, dead_letter_reason)
       SELECT id, name, state, 'null', at, at,
         CASE WHEN state = 'completed' THEN at + 1 END, CASE WHEN state = 'deadlettered' THEN at + 1 END,
         CASE WHEN state = 'deadlettered' THEN 'MaxDeliveryCountExceeded' END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, name, state, at)`,
      [0, 1, 2, 3].map((k) => FINISHED_ROWS.map((r) => r[k])),
    );
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      const indexes = await adminQuery(
        'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
        [schema, 'messages'],
      );
      await assertFinishedByState(
        d,
        indexes.rows.map((r) => r.indexname),
      );
    } finally {
      await d.close();
    }
  });

  it('browse › completed and dead-lettered messages are each read through their own index', async () => {
    const rows = `INSERT INTO $schema.messages (id, name, state, body, enqueued_at, visible_at, completed_at,
        deadlettered_at)
      SELECT 'f' || g, 'a', CASE WHEN g % 2 = 0 THEN 'completed' ELSE 'deadlettered' END, 'null', g, g,
        CASE WHEN g % 2 = 0 THEN g END, CASE WHEN g % 2 = 1 THEN g END
      FROM generate_series(1, 20000) g`;
    await planned(rows, async ({ schema, client }) => {
      const sql = makeSql(pg.escapeIdentifier(schema));
      for (const state of ['completed', 'deadlettered'] as const) {
        await client.query(
          `PREPARE browse_${state} (text, bigint, bigint, text, integer) AS ${sql.browse[state]}`,
        );
        const plan = await client.query(
          `EXPLAIN (FORMAT JSON) EXECUTE browse_${state} ('a', 30000, 15000, 'f15000', 50)`,
        );
        assert.match(JSON.stringify(plan.rows[0]), new RegExp(`"Index Name":"messages_${state}_by_name"`));
        const got = await client.query(`EXECUTE browse_${state} ('a', 30000, 15000, 'f15000', 3)`);
        const first = state === 'completed' ? 14998 : 14999;
        assert.deepEqual(
          got.rows.map((r) => r.id),
          [first, first - 2, first - 4].map((g) => `f${g}`),
        );
      }
    });
  });

  it('migrate › a lock token outside the locked state is refused', async () => {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      await assert.rejects(
        adminQuery(
          `INSERT INTO ${schema}.messages (id, name, state, body, enqueued_at, visible_at, lock_token)
           VALUES ('x', 'a', 'ready', 'null', 1, 1, 'stale')`,
        ),
        /messages_lock_token/,
      );
    } finally {
      await d.close();
    }
  });
});
