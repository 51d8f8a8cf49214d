// Growth: does processing slow down when the store keeps a long history? The
// same drain as the processing workload (concurrency 10), on an empty store and
// on one holding R retained tasks, half completed and half dead (graphile-worker
// deletes completed jobs, so it holds R dead ones).
//
// Seeding a million tasks takes tens of seconds, so it is done once per system
// and the retained runs follow one another on that store (each adds only N more
// finished tasks to R). That is why this case runs system by system instead of
// interleaving systems within each run like the others.
//
// Every retained run starts from a settled store (system.settle: on PostgreSQL
// VACUUM ANALYZE and a checkpoint, on SQLite a WAL checkpoint), after the seed
// and again after each run, outside the timed window, as every empty run starts
// from a fresh one. Otherwise a retained run measures the earlier runs' leftovers
// as well as the history: with autovacuum off, as on the machines of
// docs/benchmarks.md, the two dead row versions each processed task leaves behind
// (its queued and its running one, with their index entries) piled up over the
// runs, and one run's receive stepped over the dead entries of every run before
// it. Interleaved drains on a fresh and on a retained PostgreSQL store read 0.75×
// retained ÷ empty without the vacuum and 0.92× with it.
//
// The empty and the retained runs of one system follow one another (the `group`):
// the ratio compares a system with itself, and the machine drifts (the same drain
// on the same empty store read 18–30k tasks/s within two minutes), so the two sides
// are measured as close together in time as the seed allows, not minutes apart with
// the other systems' baseline runs (and pg-boss's 12 s caps) in between.

import { fileURLToPath } from 'node:url';
import { forkChild } from '../lib/child.mjs';
import { nowMs } from '../lib/util.mjs';
import { drain, enqueueAll } from './drain.mjs';

const SEED_CHILD = fileURLToPath(new URL('../lib/seed-child.mjs', import.meta.url));

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
      measure: async (system, run) => {
        let seedSeconds;
        if (run === 0) {
          await system.reset();
          const t = nowMs();
          // In a child process, so the measuring process does not carry the seeder's heap.
          const seeder = forkChild(SEED_CHILD, [system.id, String(retained)], { timeoutMs: 30 * 60_000 });
          try {
            await seeder.ready();
          } finally {
            await seeder.stop();
          }
          await system.settle?.();
          seedSeconds = (nowMs() - t) / 1000;
        } else {
          await system.settle?.();
        }
        const client = await system.connect();
        try {
          // Fresh ids per run so they never collide with earlier runs' tasks.
          await enqueueAll(client, tasks, retained + run * tasks);
          const result = await once(client);
          return seedSeconds === undefined ? result : { ...result, seedSeconds };
        } finally {
          await client.close();
        }
      },
    },
  ];
}
