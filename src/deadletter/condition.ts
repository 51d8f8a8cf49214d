/**
 * Conditions over a dead-lettered message, shared by rules (`when`) and by redrive filters.
 * Pure: no I/O, no clock. Compiling validates and names the failing field through `fail`, so
 * the config reports `config deadLetters.rules[0].when.error: …` and the API `filter.error: …`.
 */
import { TASK_NAME_PATTERN } from '../core/settings.ts';
import type { MessageRecord } from '../types.ts';
import type { CompiledCondition, RuleCondition } from './types.ts';

export type FieldError = (field: string, problem: string) => Error;

export const EMPTY_CONDITION: CompiledCondition = {
  tasks: null,
  reasons: null,
  body: null,
  bodyContains: null,
  error: null,
  attempts: null,
  since: null,
  until: null,
};

const CONDITION_KEYS = ['task', 'reason', 'body', 'bodyContains', 'error', 'attempts'];

/** Validates a rule's `when` (or a filter's common part) and compiles it. */
export function compileCondition(raw: unknown, field: string, fail: FieldError): CompiledCondition {
  if (raw === undefined) return EMPTY_CONDITION;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw fail(field, 'must be an object of conditions');
  const c = raw as RuleCondition & Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!CONDITION_KEYS.includes(k))
      throw fail(`${field}.${k}`, `is not a condition; use ${CONDITION_KEYS.join(', ')}`);
  }
  return {
    ...EMPTY_CONDITION,
    tasks: stringList(c.task, `${field}.task`, fail, (s) => TASK_NAME_PATTERN.test(s) || s.startsWith('$')),
    reasons: stringList(c.reason, `${field}.reason`, fail),
    body: compileBodyPattern(c.body, `${field}.body`, fail),
    bodyContains: nonEmptyString(c.bodyContains, `${field}.bodyContains`, fail),
    error: compileRegExp(c.error, `${field}.error`, fail),
    attempts: compileRange(c.attempts, `${field}.attempts`, fail),
  };
}

function stringList(
  v: unknown,
  field: string,
  fail: FieldError,
  valid: (s: string) => boolean = () => true,
): string[] | null {
  if (v === undefined) return null;
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw fail(field, 'must not be empty');
  for (const s of list) {
    if (typeof s !== 'string' || !s) throw fail(field, 'must be a string or a list of strings');
    if (!valid(s)) throw fail(field, `'${s}' is not a task name`);
  }
  return list as string[];
}

function nonEmptyString(v: unknown, field: string, fail: FieldError): string | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || v === '') throw fail(field, 'must be a non-empty string');
  return v;
}

function compileBodyPattern(v: unknown, field: string, fail: FieldError): Record<string, unknown> | null {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw fail(field, 'must be an object to match the JSON body against');
  try {
    // Only JSON values can match a stored JSON body; this also rejects functions and cycles.
    return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
  } catch (err) {
    throw fail(field, `must be JSON: ${(err as Error).message}`);
  }
}

/**
 * A RegExp, a pattern string or `/pattern/flags`. The g and y flags are dropped: they make
 * `test` stateful, and a condition must give the same answer every time.
 */
export function compileRegExp(v: unknown, field: string, fail: FieldError): RegExp | null {
  if (v === undefined) return null;
  let source: string;
  let flags = '';
  if (v instanceof RegExp) {
    source = v.source;
    flags = v.flags;
  } else if (typeof v === 'string' && v !== '') {
    const literal = /^\/(.+)\/([a-z]*)$/s.exec(v);
    source = literal ? literal[1] : v;
    flags = literal ? literal[2] : '';
  } else {
    throw fail(field, 'must be a regular expression or a non-empty string');
  }
  try {
    return new RegExp(source, flags.replace(/[gy]/g, ''));
  } catch (err) {
    throw fail(field, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

function compileRange(v: unknown, field: string, fail: FieldError): { min: number; max: number } | null {
  if (v === undefined) return null;
  const int = (x: unknown, f: string) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw fail(f, 'must be an integer ≥ 0');
    return x;
  };
  if (typeof v === 'number') {
    const n = int(v, field);
    return { min: n, max: n };
  }
  if (typeof v !== 'object' || v === null) throw fail(field, 'must be a number or { min, max }');
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r))
    if (k !== 'min' && k !== 'max') throw fail(`${field}.${k}`, 'use min or max');
  const min = r.min === undefined ? 0 : int(r.min, `${field}.min`);
  const max = r.max === undefined ? Number.MAX_SAFE_INTEGER : int(r.max, `${field}.max`);
  if (min > max) throw fail(field, 'min must not be above max');
  return { min, max };
}

/**
 * Deep partial match of a JSON pattern against a value: objects match when every key of the
 * pattern matches; arrays when every pattern element matches some element of the value;
 * anything else by strict equality. As PostgreSQL's jsonb `@>`, so the two can agree if the
 * match is ever pushed down into SQL.
 */
export function deepPartialMatch(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && pattern.every((p) => value.some((v) => deepPartialMatch(p, v)));
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const obj = value as Record<string, unknown>;
    return Object.entries(pattern).every(([k, p]) => Object.hasOwn(obj, k) && deepPartialMatch(p, obj[k]));
  }
  return pattern === value;
}

/** The raw body as text: the stored JSON, or the bytes read as UTF-8. */
export function rawBodyText(m: Pick<MessageRecord, 'body'>): string {
  return m.body.kind === 'json' ? m.body.json : m.body.bytes.toString('utf8');
}

/** The texts `error` is tested against: the dead-letter description and the last error. */
export function errorTexts(m: Pick<MessageRecord, 'deadLetterErrorDescription' | 'attempts'>): string[] {
  const out: string[] = [];
  if (m.deadLetterErrorDescription) out.push(m.deadLetterErrorDescription);
  const last = [...m.attempts].reverse().find((a) => a.error)?.error;
  if (last) out.push(last.message ? `${last.name}: ${last.message}` : last.name);
  return out;
}

/** The last error as one line for people: the description, else the last attempt's error. */
export function lastErrorText(m: Pick<MessageRecord, 'deadLetterErrorDescription' | 'attempts'>): string {
  const [first, second] = errorTexts(m);
  return second && first !== second ? `${first} (last attempt: ${second})` : (first ?? 'none recorded');
}

/** Whether every condition given holds for the message. */
export function matchesCondition(c: CompiledCondition, m: MessageRecord): boolean {
  if (c.tasks && !c.tasks.includes(m.name)) return false;
  if (c.reasons && !c.reasons.includes(m.deadLetterReason ?? '')) return false;
  if (c.since !== null && (m.deadLetteredAt ?? 0) < c.since) return false;
  if (c.until !== null && (m.deadLetteredAt ?? 0) >= c.until) return false;
  if (c.attempts && (m.attempts.length < c.attempts.min || m.attempts.length > c.attempts.max)) return false;
  if (c.bodyContains !== null && !rawBodyText(m).includes(c.bodyContains)) return false;
  if (c.error && !errorTexts(m).some((t) => c.error!.test(t))) return false;
  if (c.body) {
    if (m.body.kind !== 'json') return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(m.body.json);
    } catch {
      return false;
    }
    if (!deepPartialMatch(c.body, parsed)) return false;
  }
  return true;
}
