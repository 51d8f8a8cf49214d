// Growth: does processing slow down when the store keeps a long history? The
// same drain as the processing workload (concurrency 10), on an empty store and
// on one holding R retained tasks, half completed and half dead (graphile-worker
// deletes completed jobs, so it holds R dead ones).
//
// The two sides live in two stores of the same system ('main' and 'retained',
// see pgUrl), so their runs alternate: empty run 1, retained run 1, empty run 2,
// and so on (run.mjs). The machine drifts (the same drain on the same empty store
// read 18–30k tasks/s within two minutes), and when all the empty runs came first
// and the retained ones a minute later, after the seed, the ratio moved with the
// drift: four growth-only runs of SQLite read it anywhere from 0.76× to 1.23×.
//
// Seeding a million tasks takes tens of seconds, so it is done once per system,
// before its first run (the case's `prepare`), and the retained runs follow one
// another on that store, each adding N more finished tasks to R. Every retained
// run starts from a settled store (system.settle: on PostgreSQL VACUUM ANALYZE and
// a checkpoint, on SQLite a WAL checkpoint), outside the timed window, as every
// empty run starts from a fresh one. Otherwise a retained run measures the earlier
// runs' leftovers as well as the history: with autovacuum off, as on the machines
// of docs/benchmarks.md, the two dead row versions each processed task leaves
// behind (its queued and its running one, with their index entries) piled up over
// the runs, and one run's receive stepped over the dead entries of every run
// before it. Interleaved drains on a fresh and on a retained PostgreSQL store read
// 0.75× retained ÷ empty without the vacuum and 0.92× with it.

import { fileURLToPath } from 'node:url';
import { forkChild } from '../lib/child.mjs';
import { nowMs } from '../lib/util.mjs';
import { drain, enqueueAll } from './drain.mjs';

const SEED_CHILD = fileURLToPath(new URL('../lib/seed-child.mjs', import.meta.url));
const RETAINED = 'retained';

export function growthCases(settings) {
  const { retained, tasks, capSeconds, concurrency } = settings.growth;
  const once = (client) => drain(client, { tasks, concurrency, capSeconds });
  return [
    {
      id: 'growth-empty',
      title: `Growth baseline: process ${tasks} no-op tasks, empty store`,
      unit: 'tasks/s',
      metric: 'throughput',
      group: 'growth',
      measure: async (system) => {
        await system.reset();
        const client = await system.connect();
        try {
          await enqueueAll(client, tasks);
          return await once(client);
        } finally {
          await client.close();
        }
      },
    },
    {
      id: 'growth-retained',
      title: `Growth: the same with ${retained.toLocaleString('en-US')} finished tasks retained`,
      unit: 'tasks/s',
      metric: 'throughput',
      group: 'growth',
      prepare: async (system) => {
        await system.reset(RETAINED);
        const t = nowMs();
        // In a child process, so the measuring process does not carry the seeder's heap.
        const seeder = forkChild(SEED_CHILD, [system.id, String(retained), RETAINED], { timeoutMs: 30 * 60_000 });
        try {
          await seeder.ready();
        } finally {
          await seeder.stop();
        }
        return `seeded ${retained.toLocaleString('en-US')} finished tasks in ${((nowMs() - t) / 1000).toFixed(0)} s`;
      },
      measure: async (system, run) => {
        await system.settle?.(RETAINED);
        const client = await system.connect({ slot: RETAINED });
        try {
          // Fresh ids per run so they never collide with earlier runs' tasks.
          await enqueueAll(client, tasks, retained + run * tasks);
          return await once(client);
        } finally {
          await client.close();
          // The last run empties the store: it holds a million tasks.
          if (run === settings.runs - 1) await system.reset(RETAINED);
        }
      },
    },
  ];
}
