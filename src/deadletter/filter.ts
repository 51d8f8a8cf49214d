/**
 * Redrive filters: which dead-lettered messages to resubmit, purge or export. The same
 * conditions as a rule's `when`, plus a time range over when the message was dead-lettered.
 * Validated here, at the edge (HTTP, CLI, code), with errors naming the field.
 */
import { TaskbusError } from '../errors.ts';
import { compileCondition, type FieldError } from './condition.ts';
import type { CompiledCondition, RuleCondition } from './types.ts';

/** A filter over dead-lettered messages. All optional; every one given must hold. */
export interface DeadLetterFilter extends RuleCondition {
  /** Dead-lettered at or after: a Date, epoch ms, ISO 8601, or a duration ago (`90m`, `2h`, `7d`). */
  since?: Date | number | string;
  /** Dead-lettered before (same forms as `since`). */
  until?: Date | number | string;
}

const badRequest: FieldError = (field, problem) =>
  new TaskbusError('BAD_REQUEST', `${field}: ${problem}`, { details: { field } });

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A point in time: Date, epoch ms, ISO 8601, or a duration before `now` such as `2h`. */
export function parseTime(v: unknown, field: string, now: number, fail: FieldError = badRequest): number {
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const rel = /^(\d+)\s*([smhdw])$/.exec(v.trim());
    if (rel) return now - Number(rel[1]) * UNITS[rel[2]];
    if (/^\d+$/.test(v.trim())) return Number(v);
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw fail(
    field,
    `must be a time (ISO 8601, epoch ms, or a duration ago such as 2h), got ${JSON.stringify(v)}`,
  );
}

/** Validates and compiles a filter. */
export function compileFilter(
  raw: DeadLetterFilter | Record<string, unknown>,
  now: number,
  field = 'filter',
  fail: FieldError = badRequest,
): CompiledCondition {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail(field, 'must be an object');
  const { since, until, ...rest } = raw as DeadLetterFilter;
  const c = compileCondition(rest, field, fail);
  const out = {
    ...c,
    since: since === undefined ? null : parseTime(since, `${field}.since`, now, fail),
    until: until === undefined ? null : parseTime(until, `${field}.until`, now, fail),
  };
  if (out.since !== null && out.until !== null && out.since >= out.until)
    throw fail(field, 'since must be before until');
  return out;
}

/**
 * A filter from URL query parameters (all strings): `task` and `reason` may repeat, `body` is
 * JSON, `attempts` a number or `min-max`.
 */
export function filterFromQuery(q: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    if (k === 'code') continue; // the key, when sent as ?code=
    if (k === 'body') {
      try {
        out.body = JSON.parse(String(v));
      } catch {
        throw badRequest('body', 'must be a JSON object to match the body against');
      }
    } else if (k === 'attempts') {
      const m = /^(\d+)(?:-(\d+))?$/.exec(String(v));
      if (!m) throw badRequest('attempts', 'must be a number or a range such as 2-5');
      out.attempts = m[2] === undefined ? Number(m[1]) : { min: Number(m[1]), max: Number(m[2]) };
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** The filter as recorded in history and logs: JSON only, times as ISO, patterns as source. */
export function describeFilter(raw: Record<string, unknown>, now: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (k === 'since' || k === 'until') out[k] = new Date(parseTime(v, `filter.${k}`, now)).toISOString();
    else if (v instanceof RegExp) out[k] = String(v);
    else out[k] = v;
  }
  return out;
}
