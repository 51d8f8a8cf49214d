// pg-boss 10 (the newest major that runs on Node 20; 11+ needs Node 22).
// Its throughput configuration: one work() with `batchSize` so a single query
// fetches (and one query settles) a whole batch, the shortest polling interval it
// accepts (0.5 s), `insert()` for batches. pg-boss 10 has no per-worker
// concurrency option (teamSize went away in v10); a batch of `concurrency` jobs
// run at once is its equivalent. Note that its worker loop waits out the polling
// interval after every fetch, so a worker settles at most batchSize jobs per
// 0.5 s; that is pg-boss's design, not a harness limit.

import PgBoss from 'pg-boss';
import pg from 'pg';
import { pgUrl } from '../lib/settings.mjs';
import { pgAvailable, recreatePgDatabase, settlePgDatabase } from '../lib/stores.mjs';
import { makeHandler } from '../lib/util.mjs';

const QUEUE = 'bench';

export const pgboss = {
  id: 'pgboss',
  store: 'postgres',
  label: 'pg-boss 10 (PostgreSQL)',
  kind: 'peer',
  unavailable: pgAvailable,
  reset: recreatePgDatabase,
  settle: settlePgDatabase,
  connect,
};

async function connect({ deliveries = 1, slot = 'main' } = {}) {
  const url = pgUrl(slot);
  const boss = new PgBoss({ connectionString: url, pollingIntervalSeconds: 0.5 });
  boss.on('error', () => {});
  await boss.start();
  // retryLimit counts retries after the first delivery; no delay, no backoff.
  await boss.createQueue(QUEUE, { retryLimit: deliveries - 1, retryDelay: 0, retryBackoff: false });
  let handler = null;
  return {
    enqueue: (body) => boss.send(QUEUE, body),
    enqueueMany: (bodies) => boss.insert(bodies.map((data) => ({ name: QUEUE, data }))),
    async work({ concurrency, mode = 'noop', onStart }) {
      handler = makeHandler(mode, onStart);
      await boss.work(QUEUE, { batchSize: concurrency, pollingIntervalSeconds: 0.5 }, (jobs) =>
        Promise.all(jobs.map((job) => handler.fn(job.data))),
      );
    },
    starts: () => handler?.state.starts ?? 0,
    async pending() {
      const { rows } = await boss
        .getDb()
        .executeSql(`select count(*)::int as n from pgboss.job where name = $1 and state < 'completed'`, [QUEUE]);
      return rows[0].n;
    },
    seedRetained: (n) => seedRetained(n, url),
    // graceful stop waits for active batches; close ends the pool.
    close: () => boss.stop({ graceful: true, close: true, wait: true, timeout: 10_000 }),
  };
}

// n retained jobs, half completed and half failed, written with one INSERT ...
// SELECT into the queue's partition (the job table is partitioned by queue name).
async function seedRetained(n, url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      `insert into pgboss.job (name, data, state, retry_count, started_on, completed_on, output)
       select $1, jsonb_build_object('i', g),
              case when g % 2 = 0 then 'completed'::pgboss.job_state else 'failed'::pgboss.job_state end,
              case when g % 2 = 0 then 0 else 2 end, now(), now(),
              case when g % 2 = 0 then null else '{"message":"bench: always fails"}'::jsonb end
       from generate_series(1, $2::int) g`,
      [QUEUE, n],
    );
  } finally {
    await client.end();
  }
}
