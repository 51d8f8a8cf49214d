// Command-line flags and the sizes of every workload. A full run is sized to stay
// under ~15 minutes on a 2-core machine; --quick is a smoke run of a few seconds
// per workload that proves every path works, not a measurement to quote.

import { parseArgs } from 'node:util';

// Loopback services only. The benchmark owns Redis databases 9 and 10 and the
// PostgreSQL databases `taskbus_bench` and `taskbus_bench_retained`, recreated
// before the measured runs that use them, so it never touches data that tests or
// developers keep in database 0 / `test`.
export const REDIS = {
  host: process.env.BENCH_REDIS_HOST ?? '127.0.0.1',
  port: Number(process.env.BENCH_REDIS_PORT ?? 6379),
  db: Number(process.env.BENCH_REDIS_DB ?? 9),
};
export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const PG_BENCH_DB = process.env.BENCH_PG_DB ?? 'taskbus_bench';

// Each system has two stores: 'main', which every workload uses, and 'retained', the
// growth workload's store with a history, which stays while the empty-store runs
// start over in 'main', so that the two sides' runs can alternate.
export const pgDatabase = (slot = 'main') => (slot === 'main' ? PG_BENCH_DB : `${PG_BENCH_DB}_retained`);
export const pgUrl = (slot = 'main') => {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${pgDatabase(slot)}`;
  return url.toString();
};
export const redisDb = (slot = 'main') => REDIS.db + (slot === 'main' ? 0 : 1);

const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--retained N]
       [--workloads http,enqueue,process,latency,failure,growth]
       [--systems taskbus-sqlite,taskbus-pg,bullmq,pgboss,graphile]
       [--http-seconds S] [--out FILE]`;

export function readSettings(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      retained: { type: 'string' },
      workloads: { type: 'string' },
      systems: { type: 'string' },
      'http-seconds': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  const int = (v, d) => (v === undefined ? d : Math.max(1, Number.parseInt(v, 10) || d));
  const list = (v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : null);
  return {
    quick,
    runs: int(values.runs, quick ? 1 : 3),
    workloads: list(values.workloads),
    systems: list(values.systems),
    out: values.out ?? 'results/latest.json',
    http: { seconds: int(values['http-seconds'], quick ? 2 : 6), connections: 50 },
    // Programmatic enqueue: a fixed time per mode; batches of 100 bodies.
    enqueue: { seconds: quick ? 1 : 3, batchSize: 100 },
    // N no-op tasks queued before the worker starts; stop at N or the time cap.
    process: { tasks: quick ? 2_000 : 20_000, capSeconds: quick ? 4 : 6, concurrency: [10, 50] },
    // A steady enqueue rate while a worker runs (in the same process and in another).
    // 50/s at concurrency 50 is a rate every peer sustains (pg-boss 10 settles at
    // most one batch of `concurrency` per 0.5 s poll), so the figure is pickup
    // latency, not the growth of a backlog.
    latency: { rate: 50, seconds: quick ? 1 : 4, concurrency: 50 },
    // Always-throwing handler, 3 deliveries, no backoff.
    failure: { tasks: quick ? 300 : 3_000, capSeconds: quick ? 4 : 6, deliveries: 3, concurrency: 10 },
    // Processing throughput over R retained completed + dead tasks vs an empty store.
    growth: {
      retained: int(values.retained, quick ? 2_000 : 1_000_000),
      tasks: quick ? 2_000 : 40_000,
      capSeconds: quick ? 4 : 12,
      concurrency: 10,
    },
  };
}
