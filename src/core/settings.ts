import type { BackoffSettings } from '../types.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';

export type AuthLevel = 'anonymous' | 'function' | 'admin';

/** Every per-task setting, resolved to its value (SPEC §2). */
export interface TaskSettings {
  maxDeliveryCount: number;
  backoff: BackoffSettings;
  lockDurationMs: number;
  timeoutMs: number;
  concurrency: number;
  /**
   * At most this many messages received ahead of free handler slots (Service Bus's
   * PrefetchCount). Their lock runs while they wait; the worker prefetches only as many as its
   * handlers start within 100 ms (or a quarter of the lock) at their average duration.
   */
  prefetchCount: number;
  ttlMs: number | null;
  schema: Record<string, unknown> | null;
  auth: AuthLevel;
}

export const DEFAULT_SETTINGS: TaskSettings = {
  maxDeliveryCount: 10,
  backoff: DEFAULT_BACKOFF,
  lockDurationMs: 60_000,
  timeoutMs: 300_000,
  concurrency: 16,
  prefetchCount: 500,
  ttlMs: null,
  schema: null,
  auth: 'function',
};

export const TASK_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const KNOWN = new Set([...Object.keys(DEFAULT_SETTINGS), 'handler', 'description']);
const DAY = 86_400_000;

function positiveInt(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new Error(`${field} must be an integer from 1 to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function nonNegativeInt(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new Error(`${field} must be an integer from 0 to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function resolveBackoff(v: unknown): BackoffSettings {
  if (typeof v !== 'object' || v === null) throw new Error('backoff must be an object with a type');
  const b = v as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!['type', 'delayMs', 'maxDelayMs', 'jitter'].includes(k))
      throw new Error(`backoff.${k} is not a setting`);
  }
  if (b.jitter !== undefined && typeof b.jitter !== 'boolean')
    throw new Error('backoff.jitter must be a boolean');
  switch (b.type) {
    case 'none':
      return { type: 'none' };
    case 'fixed':
      return {
        type: 'fixed',
        delayMs:
          b.delayMs === undefined
            ? DEFAULT_BACKOFF.delayMs
            : nonNegativeInt(b.delayMs, 'backoff.delayMs', 366 * DAY),
        jitter: (b.jitter as boolean | undefined) ?? false,
      };
    case 'exponential':
      return {
        type: 'exponential',
        delayMs:
          b.delayMs === undefined
            ? DEFAULT_BACKOFF.delayMs
            : nonNegativeInt(b.delayMs, 'backoff.delayMs', 366 * DAY),
        maxDelayMs:
          b.maxDelayMs === undefined
            ? DEFAULT_BACKOFF.maxDelayMs
            : nonNegativeInt(b.maxDelayMs, 'backoff.maxDelayMs', 366 * DAY),
        jitter: (b.jitter as boolean | undefined) ?? true,
      };
    default:
      throw new Error(`backoff.type must be 'exponential', 'fixed' or 'none', got ${JSON.stringify(b.type)}`);
  }
}

/**
 * Validates a task's settings object and fills in the defaults. Throws an Error whose message
 * names the bad setting; the loader prefixes it with the file.
 */
export function resolveSettings(raw: Record<string, unknown>): TaskSettings {
  for (const k of Object.keys(raw)) {
    if (!KNOWN.has(k)) throw new Error(`unknown setting '${k}'`);
  }
  const s: TaskSettings = { ...DEFAULT_SETTINGS };
  if (raw.maxDeliveryCount !== undefined)
    s.maxDeliveryCount = positiveInt(raw.maxDeliveryCount, 'maxDeliveryCount', 10_000);
  if (raw.backoff !== undefined) s.backoff = resolveBackoff(raw.backoff);
  if (raw.lockDurationMs !== undefined)
    s.lockDurationMs = positiveInt(raw.lockDurationMs, 'lockDurationMs', DAY);
  if (raw.timeoutMs !== undefined) s.timeoutMs = positiveInt(raw.timeoutMs, 'timeoutMs', 7 * DAY);
  if (raw.concurrency !== undefined) s.concurrency = positiveInt(raw.concurrency, 'concurrency', 10_000);
  // Unless set, four rounds of handlers and at least 500: for short handlers one receive then
  // feeds many completions (on PostgreSQL a receive of 30 cost ~90 µs a message, of 300 ~30 µs;
  // at concurrency 10 a limit of 500 instead of 100 processed ~15–25% more no-op tasks). The
  // worker holds fewer when handlers are slower (see TaskRunner.prefetch).
  s.prefetchCount =
    raw.prefetchCount === undefined
      ? Math.max(500, 4 * s.concurrency)
      : nonNegativeInt(raw.prefetchCount, 'prefetchCount', 10_000);
  if (raw.ttlMs !== undefined && raw.ttlMs !== null) s.ttlMs = positiveInt(raw.ttlMs, 'ttlMs', 366 * DAY);
  if (raw.schema !== undefined && raw.schema !== null) {
    if (typeof raw.schema !== 'object' || Array.isArray(raw.schema))
      throw new Error('schema must be a JSON Schema object');
    s.schema = raw.schema as Record<string, unknown>;
  }
  if (raw.auth !== undefined) {
    if (raw.auth !== 'anonymous' && raw.auth !== 'function' && raw.auth !== 'admin') {
      throw new Error(`auth must be 'anonymous', 'function' or 'admin', got ${JSON.stringify(raw.auth)}`);
    }
    s.auth = raw.auth;
  }
  return s;
}
