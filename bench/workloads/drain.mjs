// Shared by the processing, failure and growth workloads: queue N tasks, start one
// worker, and time it until every task is settled in storage (completed, or dead
// after its last delivery), or until the time cap.
//
// Progress is watched through the handler's in-memory call counter, so the
// storage is not polled while the worker runs (a count query competes with the
// worker for the database); only once every expected delivery has started is
// the storage asked whether all are settled.

import { chunks, noopBodies, nowMs, waitFor } from '../lib/util.mjs';

export async function enqueueAll(client, n, offset = 0) {
  for (const part of chunks(noopBodies(n, offset), 1000)) await client.enqueueMany(part);
}

export async function drain(client, { tasks, concurrency, mode = 'noop', deliveries = 1, capSeconds }) {
  const start = nowMs();
  const deadline = start + capSeconds * 1000;
  await client.work({ concurrency, mode });
  await waitFor(() => client.starts() >= tasks * deliveries, deadline, 5);
  const allSettled = await waitFor(async () => (await client.pending()) === 0, deadline, 10);
  const elapsed = (nowMs() - start) / 1000;
  const settled = allSettled ? tasks : tasks - (await client.pending());
  return {
    throughput: settled / elapsed,
    p50: null,
    p95: null,
    p99: null,
    note: allSettled ? undefined : `time cap: ${settled}/${tasks} settled in ${capSeconds} s`,
  };
}
