// Failure path: every handler throws; 3 deliveries with no backoff, then the task
// is dead-lettered (BullMQ: failed set; pg-boss: failed state). tasks/s counts
// tasks that reached that final state.

import { drain, enqueueAll } from './drain.mjs';

export function failureCases(settings) {
  const { tasks, capSeconds, deliveries, concurrency } = settings.failure;
  return [
    {
      id: 'failure',
      title: `Failure path: ${tasks} always-throwing tasks, ${deliveries} deliveries, no backoff`,
      unit: 'tasks/s',
      metric: 'throughput',
      measure: async (system) => {
        await system.reset();
        const client = await system.connect({ deliveries });
        try {
          await enqueueAll(client, tasks);
          return await drain(client, { tasks, concurrency, mode: 'throw', deliveries, capSeconds });
        } finally {
          await client.close();
        }
      },
    },
  ];
}
