// graphile-worker 0.17 (the newest that runs on Node 20; 0.18 needs Node 22), in
// the configuration of its performance page: a local queue of 500 jobs fetched
// and locked in one query, completions and failures batched
// (completeJobBatchDelay / failJobBatchDelay 0), a pool of concurrency + 2.
// Enqueue uses WorkerUtils.addJob / addJobs; new jobs wake the worker through
// LISTEN/NOTIFY.

import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';
import { pgUrl } from '../lib/settings.mjs';
import { pgAvailable, recreatePgDatabase, settlePgDatabase } from '../lib/stores.mjs';
import { makeHandler } from '../lib/util.mjs';

const TASK = 'bench';
const silent = new Logger(() => () => {});

export const graphile = {
  id: 'graphile',
  store: 'postgres',
  label: 'graphile-worker 0.17 (PostgreSQL)',
  kind: 'peer',
  unavailable: pgAvailable,
  reset: recreatePgDatabase,
  settle: settlePgDatabase,
  connect,
  // Retries always wait exp(min(attempts, 10)) seconds (e, e², ...) and no option
  // turns that off, so "3 deliveries, no backoff" cannot be expressed.
  unsupported: {
    failure: 'retry backoff is fixed at e^attempts seconds; no setting removes it',
  },
};

async function connect({ deliveries = 1, slot = 'main' } = {}) {
  const url = pgUrl(slot);
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  await utils.migrate();
  // Jobs below this id are a retained history (growth workload): leaving them
  // out lets pending() walk the primary key over the new jobs only, instead of
  // scanning a million failed rows inside the timed window.
  const floor = await utils.withPgClient(async (client) => {
    const { rows } = await client.query(
      `select coalesce((select min(id) - 1 from graphile_worker._private_jobs
                        where attempts < max_attempts or locked_at is not null),
                       (select max(id) from graphile_worker._private_jobs), 0) as floor`,
    );
    return rows[0].floor;
  });
  let runner = null;
  let handler = null;
  const spec = { maxAttempts: deliveries };
  return {
    enqueue: (body) => utils.addJob(TASK, body, spec),
    enqueueMany: (bodies) => utils.addJobs(bodies.map((payload) => ({ identifier: TASK, payload, ...spec }))),
    async work({ concurrency, mode = 'noop', onStart }) {
      handler = makeHandler(mode, onStart);
      runner = await run({
        connectionString: url,
        concurrency,
        maxPoolSize: concurrency + 2,
        noHandleSignals: true,
        logger: silent,
        taskList: { [TASK]: (payload) => handler.fn(payload) },
        preset: {
          worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
        },
      });
    },
    starts: () => handler?.state.starts ?? 0,
    async pending() {
      // Completed jobs are deleted; permanently failed ones stay unlocked with
      // attempts = max_attempts. A locked job is running (attempts is counted
      // when it is fetched, so it may already equal max_attempts).
      return utils.withPgClient(async (client) => {
        const { rows } = await client.query(
          `select count(*)::int as n from graphile_worker._private_jobs
           where id > $1 and (attempts < max_attempts or locked_at is not null)`,
          [floor],
        );
        return rows[0].n;
      });
    },
    seedRetained: (n) => seedRetained(n, url),
    async close() {
      await runner?.stop();
      await utils.release();
    },
  };
}

// graphile-worker deletes completed jobs, so what it retains is permanently
// failed jobs: n of them, written in one INSERT ... SELECT.
async function seedRetained(n, url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      'insert into graphile_worker._private_tasks (identifier) values ($1) on conflict do nothing',
      [TASK],
    );
    await client.query(
      `insert into graphile_worker._private_jobs (task_id, payload, attempts, max_attempts, last_error)
       select t.id, json_build_object('i', g), 3, 3, 'bench: always fails'
       from graphile_worker._private_tasks t, generate_series(1, $2::int) g
       where t.identifier = $1`,
      [TASK, n],
    );
  } finally {
    await client.end();
  }
}
