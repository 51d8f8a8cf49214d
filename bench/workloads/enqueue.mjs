// Programmatic enqueue through each system's own client: one task per awaited
// call, and batches (BullMQ addBulk, pg-boss insert, graphile addJobs, Taskbus
// enqueueMany), for a fixed time each. Latency is per call (per batch for
// batches); throughput counts tasks.

import { noopBodies, nowMs, summarize } from '../lib/util.mjs';

export function enqueueCases(settings) {
  const { seconds, batchSize } = settings.enqueue;
  return [
    {
      id: 'enqueue-one',
      title: `Enqueue one at a time (${seconds} s)`,
      unit: 'tasks/s',
      metric: 'throughput',
      measure: (system) => measureEnqueue(system, { seconds, batchSize: 1 }),
    },
    {
      id: 'enqueue-batch',
      title: `Enqueue in batches of ${batchSize} (${seconds} s)`,
      unit: 'tasks/s',
      metric: 'throughput',
      measure: (system) => measureEnqueue(system, { seconds, batchSize }),
    },
  ];
}

async function measureEnqueue(system, { seconds, batchSize }) {
  await system.reset();
  const client = await system.connect();
  try {
    const call = batchSize === 1 ? (i) => client.enqueue({ i }) : (i) => client.enqueueMany(noopBodies(batchSize, i));
    // Warm-up: connections opened, statements prepared, code paths compiled.
    for (let i = 0; i < 50; i++) await call(i);
    const samples = [];
    let tasks = 0;
    const start = nowMs();
    const end = start + seconds * 1000;
    // Bounded by time, and by count as a second guard.
    while (nowMs() < end && tasks < 10_000_000) {
      const t = nowMs();
      await call(tasks);
      samples.push(nowMs() - t);
      tasks += batchSize;
    }
    const elapsed = (nowMs() - start) / 1000;
    return { throughput: tasks / elapsed, ...summarize(samples) };
  } finally {
    await client.close();
  }
}
