// Processing: N no-op tasks already queued, one worker (in the harness process)
// at concurrency 10 and 50, tasks/s from worker start to the last settlement.

import { drain, enqueueAll } from './drain.mjs';

export function processCases(settings) {
  const { tasks, capSeconds, concurrency } = settings.process;
  return concurrency.map((c) => ({
    id: `process-c${c}`,
    title: `Process ${tasks} queued no-op tasks, concurrency ${c}`,
    unit: 'tasks/s',
    metric: 'throughput',
    measure: async (system) => {
      await system.reset();
      const client = await system.connect();
      try {
        await enqueueAll(client, tasks);
        return await drain(client, { tasks, concurrency: c, capSeconds });
      } finally {
        await client.close();
      }
    },
  }));
}
