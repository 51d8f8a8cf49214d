import type { BackoffSettings } from '../types.ts';

export const DEFAULT_BACKOFF = {
  type: 'exponential',
  delayMs: 1000,
  maxDelayMs: 300_000,
  jitter: true,
} as const;

/**
 * Delay before the next delivery after the `deliveryCount`-th delivery failed (SPEC §4):
 * exponential is `min(maxDelayMs, delayMs × 2^(deliveryCount−1))`; with jitter the delay is
 * uniform in [delay/2, delay] so a burst of failures does not retry in lock-step.
 * `random` is injected (0 ≤ r < 1) so tests are deterministic.
 */
export function retryDelayMs(backoff: BackoffSettings, deliveryCount: number, random: () => number): number {
  if (backoff.type === 'none') return 0;
  const base = backoff.delayMs ?? DEFAULT_BACKOFF.delayMs;
  let delay: number;
  if (backoff.type === 'fixed') {
    delay = base;
  } else {
    const max = backoff.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
    // 2^(n-1) overflows to Infinity past n≈1024; min() keeps it bounded.
    delay = Math.min(max, base * 2 ** Math.max(0, deliveryCount - 1));
  }
  if (backoff.jitter ?? true) delay = delay / 2 + random() * (delay / 2);
  return Math.round(delay);
}
