/**
 * The `rateLimits` section of `taskbus.config.*`. Off unless configured.
 *
 * ```ts
 * export default defineConfig({
 *   rateLimits: {
 *     key: { limit: 100, windowMs: 1_000 },               // each host or function key
 *     keys: { '01J…key-id': [{ limit: 1_000, windowMs: 1_000 }, { limit: 1e6, windowMs: 86_400_000 }] },
 *     anonymous: { limit: 10, windowMs: 1_000 },          // calls without a key, per client IP
 *     tasks: { 'send-email': { limit: 50, windowMs: 1_000 } },  // enqueues of a task, all callers
 *   },
 * });
 * ```
 */
import { configError, registerConfigSection, type TaskbusConfig } from '../../config/config.ts';
import { TASK_NAME_PATTERN } from '../../core/settings.ts';

/** At most `limit` requests per `windowMs` (fixed windows aligned to multiples of windowMs). */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

export interface TaskRateLimit extends RateLimit {
  /** 'task' (default): one counter for all callers. 'key': one counter per key (and per IP). */
  per?: 'task' | 'key';
}

export interface RateLimitConfig {
  /** Each host or function key, over all its task calls (enqueue and status). */
  key?: RateLimit | RateLimit[];
  /** Per key id (`taskbus keys list`), instead of `key`; 'master' limits the master key (unlimited otherwise). */
  keys?: Record<string, RateLimit | RateLimit[]>;
  /** Calls of anonymous tasks without a key, per client IP (set Fastify's trustProxy behind a proxy). */
  anonymous?: RateLimit | RateLimit[];
  /** Enqueues (POST) of one task. */
  tasks?: Record<string, TaskRateLimit | TaskRateLimit[]>;
}

const MAX_WINDOW_MS = 366 * 86_400_000;

function limits(v: unknown, field: string, task: boolean): void {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw configError(field, 'must name at least one limit');
  list.forEach((l, i) => {
    const f = Array.isArray(v) ? `${field}[${i}]` : field;
    if (typeof l !== 'object' || l === null || Array.isArray(l))
      throw configError(f, 'must be { limit, windowMs }');
    const o = l as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'limit' && k !== 'windowMs' && !(task && k === 'per'))
        throw configError(`${f}.${k}`, 'is not a setting');
    }
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1)
      throw configError(`${f}.limit`, 'must be a positive integer');
    if (
      typeof o.windowMs !== 'number' ||
      !Number.isInteger(o.windowMs) ||
      o.windowMs < 1 ||
      o.windowMs > MAX_WINDOW_MS
    )
      throw configError(`${f}.windowMs`, `must be an integer from 1 to ${MAX_WINDOW_MS}`);
    if (task && o.per !== undefined && o.per !== 'task' && o.per !== 'key')
      throw configError(`${f}.per`, "must be 'task' or 'key'");
  });
}

function record(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError(field, 'must be an object');
  return v as Record<string, unknown>;
}

export function validateRateLimitConfig(c: TaskbusConfig): void {
  if (c.rateLimits === undefined) return;
  const r = record(c.rateLimits, 'rateLimits');
  for (const k of Object.keys(r)) {
    if (!['key', 'keys', 'anonymous', 'tasks'].includes(k))
      throw configError(`rateLimits.${k}`, 'is not a setting (known: key, keys, anonymous, tasks)');
  }
  if (r.key !== undefined) limits(r.key, 'rateLimits.key', false);
  if (r.anonymous !== undefined) limits(r.anonymous, 'rateLimits.anonymous', false);
  if (r.keys !== undefined) {
    for (const [id, l] of Object.entries(record(r.keys, 'rateLimits.keys')))
      limits(l, `rateLimits.keys.${id}`, false);
  }
  if (r.tasks !== undefined) {
    for (const [name, l] of Object.entries(record(r.tasks, 'rateLimits.tasks'))) {
      if (!TASK_NAME_PATTERN.test(name))
        throw configError(`rateLimits.tasks.${name}`, 'is not a valid task name');
      limits(l, `rateLimits.tasks.${name}`, true);
    }
  }
}

registerConfigSection(validateRateLimitConfig);

export function rateLimitConfig(c: TaskbusConfig): RateLimitConfig | undefined {
  return c.rateLimits as RateLimitConfig | undefined;
}
