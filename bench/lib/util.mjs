// Small shared helpers: a clock every process on the machine agrees on, statistics,
// and bounded waiting. Nothing here knows about any queue system.

import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

// process.hrtime reads CLOCK_MONOTONIC, which is system-wide on Linux, so a
// timestamp taken in the producer process can be subtracted from one taken in a
// worker process. Date.now() would only give millisecond resolution.
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export function median(values) {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

// Nearest-rank percentile over raw samples (ms).
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

// Polls `check` until it returns true or the deadline (nowMs() based) passes.
// Returns whether the condition was met. Every wait in the harness goes through
// this so that no loop can run unbounded.
export async function waitFor(check, deadline, intervalMs = 20) {
  while (nowMs() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return Boolean(await check());
}

export function chunks(array, size) {
  const out = [];
  for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
  return out;
}

export const noopBodies = (n, offset = 0) =>
  Array.from({ length: n }, (_, i) => ({ i: offset + i }));

// A handler that counts its calls, shared by every adapter so each system runs
// exactly the same user code: a no-op, a throw, or (to produce a history of
// completed and dead tasks) a throw for odd body.i only.
export function makeHandler(mode, onStart) {
  const state = { starts: 0 };
  const fn = async (body) => {
    state.starts++;
    if (onStart) onStart(body);
    if (mode === 'throw' || (mode === 'half' && body?.i % 2 === 1)) throw new Error('bench: always fails');
    return null;
  };
  return { state, fn };
}
