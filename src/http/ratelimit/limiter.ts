/**
 * Rate limits and quotas per key and per task, counted in storage so that every API process
 * sharing the database shares the counters (a per-process counter would let N processes admit
 * N times the limit). Fixed windows aligned to multiples of `windowMs`: one row per counter,
 * one atomic upsert per limit per request. A fixed window admits up to 2× the limit across a
 * window boundary; pair a short window with a long one (e.g. 10/s and 300/min) where bursts
 * matter.
 *
 * Answers carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and
 * `RateLimit-Policy` (IETF draft) for the tightest limit; over a limit: 429 problem+json with
 * `Retry-After`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock.ts';
import { TaskbusError } from '../../errors.ts';
import type { Principal } from '../auth/keys.ts';
import type { RateLimit, RateLimitConfig, TaskRateLimit } from './config.ts';

/** The storage operation the limiter needs (StorageDriver.hitRateLimit). */
export interface RateLimitStore {
  hitRateLimit(p: {
    key: string;
    windowMs: number;
    now: number;
    cost?: number;
  }): Promise<{ count: number; resetAt: number }>;
}

export type CallKind = 'enqueue' | 'status';

interface Check {
  counter: string;
  limit: RateLimit;
  scope: string;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export class RateLimiter {
  private readonly key: RateLimit[];
  private readonly keys: Map<string, RateLimit[]>;
  private readonly anonymous: RateLimit[];
  private readonly tasks: Map<string, TaskRateLimit[]>;

  constructor(
    config: RateLimitConfig,
    private readonly store: RateLimitStore,
    private readonly clock: Clock,
  ) {
    this.key = list(config.key);
    this.keys = new Map(Object.entries(config.keys ?? {}).map(([k, v]) => [k, list(v)]));
    this.anonymous = list(config.anonymous);
    this.tasks = new Map(Object.entries(config.tasks ?? {}).map(([k, v]) => [k, list(v)]));
  }

  /** A limiter when the config has any limit, else undefined (no cost per request). */
  static from(
    config: RateLimitConfig | undefined,
    store: RateLimitStore,
    clock: Clock,
  ): RateLimiter | undefined {
    if (!config) return undefined;
    const any =
      list(config.key).length +
      list(config.anonymous).length +
      Object.keys(config.keys ?? {}).length +
      Object.keys(config.tasks ?? {}).length;
    return any ? new RateLimiter(config, store, clock) : undefined;
  }

  private checksFor(request: FastifyRequest, task: string, p: Principal | null, kind: CallKind): Check[] {
    const subject = p === null ? `ip:${request.ip}` : p.kind === 'master' ? 'master' : `key:${p.keyId}`;
    const own =
      p === null
        ? this.anonymous
        : p.kind === 'master'
          ? (this.keys.get('master') ?? [])
          : (this.keys.get(p.keyId) ?? this.key);
    const checks: Check[] = own.map((limit) => ({
      counter: `${subject}:${limit.windowMs}`,
      limit,
      scope: p === null ? 'client' : 'key',
    }));
    if (kind === 'enqueue') {
      for (const limit of this.tasks.get(task) ?? []) {
        checks.push(
          limit.per === 'key'
            ? { counter: `task:${task}:${subject}:${limit.windowMs}`, limit, scope: `task '${task}' and key` }
            : { counter: `task:${task}:${limit.windowMs}`, limit, scope: `task '${task}'` },
        );
      }
    }
    return checks;
  }

  /**
   * Counts one call against every limit that applies and sets the RateLimit headers. Throws
   * RATE_LIMITED (429, with Retry-After) when any limit is exceeded.
   */
  async check(
    request: FastifyRequest,
    reply: FastifyReply,
    task: string,
    principal: Principal | null,
    kind: CallKind,
  ): Promise<void> {
    const checks = this.checksFor(request, task, principal, kind);
    if (checks.length === 0) return;
    const now = this.clock.now();
    const hits = await Promise.all(
      checks.map((c) => this.store.hitRateLimit({ key: c.counter, windowMs: c.limit.windowMs, now })),
    );
    let tightest = 0;
    let exceeded = -1;
    for (let i = 0; i < checks.length; i++) {
      const left = checks[i].limit.limit - hits[i].count;
      const best = checks[tightest].limit.limit - hits[tightest].count;
      if (left < best || (left === best && hits[i].resetAt > hits[tightest].resetAt)) tightest = i;
      // Over several limits, the client must wait for the one that frees last.
      if (left < 0 && (exceeded < 0 || hits[i].resetAt > hits[exceeded].resetAt)) exceeded = i;
    }
    const shown = exceeded >= 0 ? exceeded : tightest;
    const resetS = Math.max(0, Math.ceil((hits[shown].resetAt - now) / 1000));
    reply.header('ratelimit-limit', checks[shown].limit.limit);
    reply.header('ratelimit-remaining', Math.max(0, checks[shown].limit.limit - hits[shown].count));
    reply.header('ratelimit-reset', resetS);
    reply.header(
      'ratelimit-policy',
      checks.map((c) => `${c.limit.limit};w=${Math.max(1, Math.ceil(c.limit.windowMs / 1000))}`).join(', '),
    );
    if (exceeded < 0) return;
    const retryAfter = Math.max(1, resetS);
    reply.header('retry-after', retryAfter);
    const l = checks[exceeded].limit;
    throw new TaskbusError(
      'RATE_LIMITED',
      `over the limit of ${l.limit} requests per ${l.windowMs} ms for this ${checks[exceeded].scope}; retry in ${retryAfter} s`,
      { details: { limit: l.limit, windowMs: l.windowMs, retryAfter } },
    );
  }
}
