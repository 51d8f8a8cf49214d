// Shared by the processing, failure and growth workloads: queue N tasks, start one
// worker, and time it until every task is settled in storage (completed, or dead
// after its last delivery), or until the time cap.
//
// Progress is watched in memory (the handler's call counter, and the system's
// post-commit settlement events where it has them), so the storage is not
// polled while the worker runs: a count query competes with the worker for the
// database, and over a million retained rows it would weigh on the timing.
// Without such events, the storage is asked whether all are settled only once
// every expected delivery has started.

import { chunks, noopBodies, nowMs, waitFor } from '../lib/util.mjs';

export async function enqueueAll(client, n, offset = 0) {
  for (const part of chunks(noopBodies(n, offset), 1000)) await client.enqueueMany(part);
}

export async function drain(client, { concurrency, mode = 'noop', deliveries = 1, capSeconds }) {
  // Everything unsettled counts, including what a capped earlier run on the same
  // store left behind (the growth workload reuses its seeded store).
  const tasks = await client.pending();
  const start = nowMs();
  const deadline = start + capSeconds * 1000;
  await client.work({ concurrency, mode });
  if (client.settled) {
    await waitFor(() => client.settled() >= tasks, deadline, 2);
  } else {
    await waitFor(() => client.starts() >= tasks * deliveries, deadline, 5);
    await waitFor(async () => (await client.pending()) === 0, deadline, 10);
  }
  const elapsed = (nowMs() - start) / 1000;
  // Checked in storage, after the clock stopped.
  const left = await client.pending();
  const settled = tasks - left;
  return {
    throughput: settled / elapsed,
    p50: null,
    p95: null,
    p99: null,
    settled,
    tasks,
    note: left === 0 ? undefined : `stopped at the ${capSeconds} s cap`,
  };
}
