// Processing: N no-op tasks already queued, one worker (in the harness process)
// at concurrency 10 and 50, tasks/s from worker start to the last settlement.
// On PostgreSQL, the write-ahead log the server wrote meanwhile is reported per
// task too (read before the worker starts and after the last settlement, outside
// the timed window).

import { pgWalBytes } from '../lib/stores.mjs';
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
        const walBefore = system.store === 'postgres' ? await pgWalBytes() : null;
        const result = await drain(client, { tasks, concurrency: c, capSeconds });
        if (walBefore !== null && result.settled > 0) {
          result.walBytesPerTask = ((await pgWalBytes()) - walBefore) / result.settled;
        }
        return result;
      } finally {
        await client.close();
      }
    },
  }));
}
