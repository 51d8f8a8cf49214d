// Fresh storage for every measured run, so no run inherits another's rows, dead
// tuples, Redis keys or warmed caches. The one exception is the growth workload's
// retained store, seeded once per system and settled before each of its runs
// (settlePgDatabase below, workloads/growth.mjs).

import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, pgDatabase, pgUrl, REDIS, redisDb } from './settings.mjs';
import { sleep } from './util.mjs';

// Dropping and recreating a whole database (rather than a schema) clears every
// peer's tables, functions and LISTEN channels at once, and leaves the `test`
// database that the product's own tests use alone. WITH (FORCE) ends stray
// sessions from a run that crashed (PostgreSQL 13+). It comes after a bounded
// wait for the previous run's sessions to end by themselves: graphile-worker
// 0.17 does not await its pool's end() when its runner stops, and removes the
// pool's error listener at once, so a session ended by force in that window
// raised an unhandled 'error' event that stopped the whole benchmark.
export function recreatePgDatabase(slot = 'main') {
  const name = pgDatabase(slot);
  return withPgClient(PG_ADMIN_URL, async (client) => {
    const others = async () =>
      (
        await client.query(
          'select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        )
      ).rows[0].n;
    for (let waited = 0; waited < 5000 && (await others()) > 0; waited += 50) await sleep(50);
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  });
}

// After a bulk seed, and between the growth workload's runs on the retained store,
// what a long-lived store would have done long before: what autovacuum does (dead
// row versions removed, visibility map set, planner statistics current) and a
// checkpoint, so the seed's dirty pages are on disk. Without it the first minutes
// after a million-row insert are what is measured: the checkpoint that the seed's
// WAL sets off spreads its writes over the next runs, and every page first touched
// after it starts goes whole into the WAL. The SQLite store gets the same (its WAL
// checkpointed and the file synced) in peers/taskbus.mjs.
export function settlePgDatabase(slot = 'main') {
  return withPgClient(pgUrl(slot), async (client) => {
    await client.query('VACUUM ANALYZE');
    await client.query('CHECKPOINT');
  });
}

// The server's write-ahead log position in bytes (the whole cluster: during a
// measured drain the system under test is the only writer). WAL is what every
// change costs the server in writes, whatever the schema; comparing it per task
// shows how much each system asks of PostgreSQL for the same work.
export function pgWalBytes() {
  return withPgClient(PG_ADMIN_URL, async (client) => {
    const { rows } = await client.query("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8 as b");
    return Number(rows[0].b);
  });
}

// One short-lived connection for one piece of maintenance, closed whatever happens.
async function withPgClient(connectionString, fn) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function pgAvailable() {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (err) {
    return `PostgreSQL not reachable at ${PG_ADMIN_URL}: ${err.message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

export function redisClient(extra = {}, slot = 'main') {
  return new Redis({ ...REDIS, db: redisDb(slot), lazyConnect: true, maxRetriesPerRequest: 1, ...extra });
}

export async function flushRedis(slot = 'main') {
  const redis = redisClient({}, slot);
  try {
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

export async function redisAvailable() {
  const redis = redisClient({ retryStrategy: () => null, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return `Redis not reachable at ${REDIS.host}:${REDIS.port}: ${err.message}`;
  } finally {
    redis.disconnect();
  }
}
