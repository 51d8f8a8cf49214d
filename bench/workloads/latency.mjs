// Latency: a steady rate of enqueues while a worker runs; the time from just
// before the enqueue call to the handler's start, p50/p95/p99. Measured with the
// worker in the same process as the producer, and in another process (the
// timestamps come from the machine-wide monotonic clock, see lib/util.mjs).

import { fileURLToPath } from 'node:url';
import { forkChild } from '../lib/child.mjs';
import { nowMs, sleep, summarize, waitFor } from '../lib/util.mjs';

const WORKER = fileURLToPath(new URL('../lib/worker-child.mjs', import.meta.url));
const WARMUP = 20;

export function latencyCases(settings) {
  const { rate, seconds, concurrency } = settings.latency;
  const make = (where) => ({
    id: `latency-${where}`,
    title: `Enqueue → handler start at ${rate}/s, worker in ${where === 'in' ? 'the same process' : 'another process'}`,
    unit: 'ms',
    metric: 'p50',
    measure: (system) => measureLatency(system, { where, rate, seconds, concurrency }),
  });
  return [make('in'), make('cross')];
}

async function measureLatency(system, { where, rate, seconds, concurrency }) {
  await system.reset();
  const producer = await system.connect();
  const worker = where === 'in' ? inProcessWorker(producer, concurrency) : await childWorker(system, concurrency);
  try {
    await worker.start();
    // Warm-up tasks settle connections and compiled paths; their samples are dropped.
    await steady(producer, WARMUP, 50);
    await waitFor(async () => (await worker.count()) >= WARMUP, nowMs() + 15_000);
    await worker.take();

    const total = Math.round(rate * seconds);
    await steady(producer, total, rate);
    // pg-boss polls every 0.5 s; allow a generous but bounded tail.
    const arrived = await waitFor(async () => (await worker.count()) >= WARMUP + total, nowMs() + 15_000);
    const samples = await worker.take();
    return {
      throughput: null,
      ...summarize(samples),
      note: arrived ? undefined : `only ${samples.length}/${total} started`,
    };
  } finally {
    await worker.stop();
    await producer.close();
  }
}

// Sends `count` enqueues at `rate` per second without waiting for each to finish
// (a slow enqueue must not lower the offered rate), then waits for all of them.
async function steady(client, count, rate) {
  const start = nowMs();
  const sends = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - nowMs();
    if (wait > 1) await sleep(wait);
    sends.push(client.enqueue({ i, t: nowMs() }));
  }
  await Promise.all(sends);
}

function inProcessWorker(client, concurrency) {
  let samples = [];
  return {
    start: () => client.work({ concurrency, onStart: (body) => samples.push(nowMs() - body.t) }),
    count: async () => client.starts(),
    take: async () => {
      const taken = samples;
      samples = [];
      return taken;
    },
    stop: async () => {},
  };
}

async function childWorker(system, concurrency) {
  const child = forkChild(WORKER, [system.id, String(concurrency)]);
  return {
    start: () => child.ready(),
    count: () => child.request('count'),
    take: () => child.request('take'),
    stop: () => child.stop(),
  };
}
