import type { FastifyRequest } from 'fastify';
import { TaskbusError } from '../errors.ts';
import type { EnqueueOptions } from '../tasks/define.ts';

const MAX_DELAY_MS = 366 * 86_400_000;
const INT = /^\s*\d+\s*$/;

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const bad = (name: string, why: string) =>
  new TaskbusError('BAD_REQUEST', `header ${name}: ${why}`, { details: { header: name } });

/**
 * Request options of POST /api/{name}, validated at the edge (SPEC §4): Idempotency-Key,
 * Taskbus-Delay-Ms or Taskbus-Scheduled-For, Taskbus-TTL-Ms, traceparent.
 */
export function enqueueOptions(request: FastifyRequest, now: number): EnqueueOptions {
  const o: EnqueueOptions = {};
  const key = header(request, 'idempotency-key');
  if (key !== undefined) {
    const k = key.trim();
    if (!k) throw bad('Idempotency-Key', 'must not be empty');
    if (k.length > 256) throw bad('Idempotency-Key', 'must be at most 256 characters');
    o.idempotencyKey = k;
  }
  const delay = header(request, 'taskbus-delay-ms');
  const at = header(request, 'taskbus-scheduled-for');
  if (delay !== undefined && at !== undefined)
    throw bad('Taskbus-Delay-Ms', 'give Taskbus-Delay-Ms or Taskbus-Scheduled-For, not both');
  if (delay !== undefined) {
    if (!INT.test(delay)) throw bad('Taskbus-Delay-Ms', 'must be a non-negative integer of milliseconds');
    const ms = Number(delay);
    if (ms > MAX_DELAY_MS) throw bad('Taskbus-Delay-Ms', 'must be at most 366 days');
    o.delayMs = ms;
  }
  if (at !== undefined) {
    // ISO 8601 date-time with a zone, or a date; Date.parse alone accepts too much.
    const t = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(at.trim())
      ? Date.parse(at.trim())
      : Number.NaN;
    if (Number.isNaN(t))
      throw bad('Taskbus-Scheduled-For', 'must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z');
    if (t - now > MAX_DELAY_MS) throw bad('Taskbus-Scheduled-For', 'must be at most 366 days ahead');
    o.scheduledFor = Math.max(now, t);
  }
  const ttl = header(request, 'taskbus-ttl-ms');
  if (ttl !== undefined) {
    if (!INT.test(ttl) || Number(ttl) < 1)
      throw bad('Taskbus-TTL-Ms', 'must be a positive integer of milliseconds');
    if (Number(ttl) > MAX_DELAY_MS) throw bad('Taskbus-TTL-Ms', 'must be at most 366 days');
    o.ttlMs = Number(ttl);
  }
  const tp = header(request, 'traceparent');
  if (tp !== undefined && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(tp.trim()))
    o.traceparent = tp.trim();
  return o;
}
