// BullMQ on Redis, as its docs recommend for throughput: one Worker with
// `concurrency` (jobs are fetched by the worker and the next job comes back in the
// same round trip that completes the previous one), `addBulk` for batches.
// Jobs are kept after completion and failure (BullMQ's default), which is also
// what Taskbus does, so both store the same history.

import { Queue, Worker } from 'bullmq';
import { REDIS, redisDb } from '../lib/settings.mjs';
import { flushRedis, redisAvailable, redisClient } from '../lib/stores.mjs';
import { makeHandler } from '../lib/util.mjs';

const QUEUE = 'bench';

export const bullmq = {
  id: 'bullmq',
  store: 'redis',
  label: 'BullMQ (Redis)',
  kind: 'peer',
  unavailable: redisAvailable,
  reset: flushRedis,
  connect,
};

async function connect({ deliveries = 1, slot = 'main' } = {}) {
  const connection = { host: REDIS.host, port: REDIS.port, db: redisDb(slot) };
  const queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  // attempts = deliveries; backoff left unset means an immediate retry.
  const opts = { attempts: deliveries };
  let worker = null;
  let handler = null;
  return {
    enqueue: (body) => queue.add('noop', body, opts),
    enqueueMany: (bodies) => queue.addBulk(bodies.map((data) => ({ name: 'noop', data, opts }))),
    async work({ concurrency, mode = 'noop', onStart }) {
      handler = makeHandler(mode, onStart);
      worker = new Worker(QUEUE, (job) => handler.fn(job.data), { connection, concurrency });
      worker.on('error', () => {});
      await worker.waitUntilReady();
    },
    starts: () => handler?.state.starts ?? 0,
    async pending() {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
      return Object.values(c).reduce((a, b) => a + b, 0);
    },
    seedRetained: (n) => seedRetained(n, slot),
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}

// Writes n finished jobs (half completed, half failed after 3 attempts) straight
// into BullMQ's key layout: a hash per job plus the `completed` / `failed` sorted
// sets. Going through a worker would take minutes for a million jobs and store
// the same keys.
async function seedRetained(n, slot) {
  const redis = redisClient({}, slot);
  await redis.connect();
  try {
    const now = Date.now();
    const prefix = `bull:${QUEUE}`;
    for (let start = 0; start < n; start += 5000) {
      const pipe = redis.pipeline();
      for (let i = start; i < Math.min(n, start + 5000); i++) {
        const id = `r${i}`;
        const failed = i % 2 === 1;
        pipe.hset(`${prefix}:${id}`, {
          name: 'noop',
          data: JSON.stringify({ i }),
          opts: '{"attempts":3}',
          timestamp: now,
          delay: 0,
          priority: 0,
          processedOn: now,
          finishedOn: now,
          atm: failed ? 3 : 1,
          ats: failed ? 3 : 1,
          ...(failed ? { failedReason: 'bench: always fails', stacktrace: '[]' } : { returnvalue: 'null' }),
        });
        pipe.zadd(`${prefix}:${failed ? 'failed' : 'completed'}`, now, id);
      }
      await pipe.exec();
    }
  } finally {
    redis.disconnect();
  }
}
