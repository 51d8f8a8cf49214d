/**
 * Applies the migrations of migrations.ts to one schema, safely when many processes start at
 * once: the advisory lock (held to the end of the transaction) serialises every process
 * migrating this schema, so one applies and the others then find nothing to do. Its key is
 * (a constant for Taskbus, a hash of the schema name): other schemas migrate in parallel.
 * The whole run is one transaction: a failed migration leaves the schema as it was.
 */
import pg from 'pg';
import { TaskbusError } from '../../errors.ts';
import type { Db } from './connection.ts';
import { LATEST_VERSION, MIGRATIONS } from './migrations.ts';

const sql = (s: string) => ({
  // $1 schema name. CREATE SCHEMA IF NOT EXISTS alone is not safe concurrently (two creators
  // race on pg_namespace's unique index), hence the lock first.
  lock: 'SELECT pg_advisory_xact_lock(1952539499, hashtext($1::text))',
  createSchema: `CREATE SCHEMA IF NOT EXISTS ${s}`,
  createTable: `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations
    (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
  // → v, the newest applied version (0 for an empty schema).
  current: `SELECT coalesce(max(version), 0) AS v FROM ${s}.schema_migrations`,
  // $1 version, $2 name, $3 applied at.
  record: `INSERT INTO ${s}.schema_migrations (version, name, applied_at)
    VALUES ($1::integer, $2::text, $3::bigint)`,
});

export async function migrate(db: Db, schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  const q = sql(s);
  await db.tx(async (c) => {
    await c.query({ text: q.lock, values: [schema] });
    await c.query({ text: q.createSchema });
    await c.query({ text: q.createTable });
    const current = Number((await c.query({ text: q.current })).rows[0].v);
    if (current > LATEST_VERSION) {
      throw new TaskbusError(
        'SCHEMA_TOO_NEW',
        `the PostgreSQL schema '${schema}' is at version ${current} but this Taskbus knows only up to ${LATEST_VERSION}: upgrade Taskbus`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await c.query({ text: m.sql(s) });
      await c.query({ text: q.record, values: [m.version, m.name, Date.now()] });
    }
  });
}
