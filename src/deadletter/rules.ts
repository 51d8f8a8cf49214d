/**
 * Dead-letter rules: validation of the config section, the choice of the rule for a message,
 * and the history a rule leaves on the message. Pure: no I/O, no clock.
 *
 * The first rule whose `when` holds wins, so a catch-all rule (no `when`) goes last. A rule with
 * a `resubmit` action whose budget is spent (it resubmitted this message `times` times already)
 * is passed over, so "resubmit three times, then email the team" is two rules.
 */
import { DEFAULT_BACKOFF } from '../core/backoff.ts';
import { resolveSettings, TASK_NAME_PATTERN } from '../core/settings.ts';
import type { HistoryEvent, MessageRecord } from '../types.ts';
import { compileCondition, type FieldError, matchesCondition } from './condition.ts';
import type {
  CompiledAction,
  CompiledDeadLetterConfig,
  CompiledRule,
  RuleMode,
  TaskAction,
} from './types.ts';

export const RULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const DEFAULT_PUBLIC_URL = 'http://127.0.0.1:7071';
export const DEFAULT_FROM = 'Taskbus <taskbus@localhost>';
const ACTION_KINDS = ['invoke', 'webhook', 'email', 'resubmit', 'discard'];
const DAY = 86_400_000;

/** The types of history events rules write on the dead-lettered message (the dashboard shows them). */
export const RULE_EVENTS = {
  /** `{ rule, occurrence, mode, actions }`: the rule chosen for this dead-lettering. */
  matched: 'rule.matched',
  /** `{ occurrence }`: no rule matched. */
  unmatched: 'rule.unmatched',
  /** `{ rule, occurrence, action, type, status: 'succeeded'|'failed', attempt, detail|error }`. */
  action: 'rule.action',
  /** `{ rule, occurrence, mode }`: every action succeeded; the message stays (peek-lock). */
  handled: 'rule.handled',
} as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates `deadLetters`, `smtp` and `publicUrl` and compiles them. Throws through `fail`
 * naming the field (`deadLetters.rules[1].then[0].webhook.url`).
 */
export function compileDeadLetterConfig(config: Obj, fail: FieldError): CompiledDeadLetterConfig {
  const publicUrl =
    config.publicUrl === undefined ? DEFAULT_PUBLIC_URL : httpUrl(config.publicUrl, 'publicUrl', fail);
  const smtp = config.smtp === undefined ? null : compileSmtp(config.smtp, fail);
  const dl = config.deadLetters;
  if (dl !== undefined && !isObj(dl)) throw fail('deadLetters', 'must be an object with rules');
  for (const k of Object.keys(dl ?? {})) {
    if (k !== 'rules' && k !== 'actions')
      throw fail(`deadLetters.${k}`, 'is not a setting; use rules or actions');
  }
  const rawRules = dl?.rules ?? [];
  if (!Array.isArray(rawRules)) throw fail('deadLetters.rules', 'must be a list of rules');
  const names = new Set<string>();
  const rules = rawRules.map((r, i) => {
    const rule = compileRule(r, i, fail);
    if (names.has(rule.name))
      throw fail(`deadLetters.rules[${i}].name`, `'${rule.name}' is used by another rule`);
    names.add(rule.name);
    return rule;
  });
  for (const [i, rule] of rules.entries()) {
    const j = rule.actions.findIndex((a) => a.type === 'email');
    if (j >= 0 && !smtp) throw fail('smtp', `is required by deadLetters.rules[${i}].then[${j}] (email)`);
  }
  return { rules, actions: compileActionSettings(dl?.actions, fail), smtp, publicUrl };
}

function compileRule(raw: unknown, i: number, fail: FieldError): CompiledRule {
  const field = `deadLetters.rules[${i}]`;
  if (!isObj(raw)) throw fail(field, 'must be an object { name, when, then, mode }');
  for (const k of Object.keys(raw)) {
    if (!['name', 'when', 'then', 'mode'].includes(k))
      throw fail(`${field}.${k}`, 'is not a rule setting; use name, when, then, mode');
  }
  const name = raw.name === undefined ? `rule-${i + 1}` : raw.name;
  if (typeof name !== 'string' || !RULE_NAME_PATTERN.test(name))
    throw fail(`${field}.name`, 'must be 1 to 64 letters, digits, _ . or -, starting with a letter or digit');
  const mode = (raw.mode ?? 'peek-lock') as RuleMode;
  if (mode !== 'peek-lock' && mode !== 'auto-complete')
    throw fail(`${field}.mode`, `must be 'peek-lock' or 'auto-complete', got ${JSON.stringify(raw.mode)}`);
  if (raw.then === undefined) throw fail(`${field}.then`, 'is required: one or more actions');
  const list = Array.isArray(raw.then) ? raw.then : [raw.then];
  if (list.length === 0) throw fail(`${field}.then`, 'must have at least one action');
  const actions = list.map((a, j) => compileAction(a, `${field}.then[${j}]`, fail));
  const has = (t: CompiledAction['type']) => actions.some((a) => a.type === t);
  if (actions.filter((a) => a.type === 'resubmit').length > 1)
    throw fail(`${field}.then`, 'has more than one resubmit action');
  if (has('resubmit') && has('discard'))
    throw fail(`${field}.then`, 'cannot both resubmit and discard the message');
  return {
    name,
    when: compileCondition(raw.when, `${field}.when`, fail),
    actions,
    mode,
    discard: has('discard'),
  };
}

function compileAction(raw: unknown, field: string, fail: FieldError): CompiledAction {
  if (raw === 'discard') return { type: 'discard' };
  if (!isObj(raw) || Object.keys(raw).length !== 1)
    throw fail(field, `must be one action: { invoke }, { webhook }, { email }, { resubmit } or 'discard'`);
  const [kind] = Object.keys(raw);
  const v = raw[kind];
  const f = `${field}.${kind}`;
  switch (kind) {
    case 'invoke': {
      const task = isObj(v) ? v.task : v;
      if (isObj(v))
        for (const k of Object.keys(v))
          if (k !== 'task') throw fail(`${f}.${k}`, 'is not a setting; use task');
      if (typeof task !== 'string' || !TASK_NAME_PATTERN.test(task))
        throw fail(f, 'must name the task to invoke, e.g. { invoke: "remedy" }');
      return { type: 'invoke', task };
    }
    case 'webhook': {
      const w = isObj(v) ? v : { url: v };
      only(w, ['url', 'secret', 'timeoutMs', 'headers'], f, fail);
      const url = httpUrl(w.url, `${f}.url`, fail);
      if (typeof w.secret !== 'string' || w.secret.length < 8)
        throw fail(`${f}.secret`, 'is required: a string of at least 8 characters to sign the request with');
      const timeoutMs = intIn(w.timeoutMs, `${f}.timeoutMs`, 1, 300_000, 10_000, fail);
      const headers = w.headers ?? {};
      if (!isObj(headers) || Object.values(headers).some((h) => typeof h !== 'string'))
        throw fail(`${f}.headers`, 'must be an object of header names to string values');
      return {
        type: 'webhook',
        url,
        secret: w.secret,
        timeoutMs,
        headers: headers as Record<string, string>,
      };
    }
    case 'email': {
      const e = isObj(v) ? v : { to: v };
      only(e, ['to', 'subject'], f, fail);
      const to = Array.isArray(e.to) ? e.to : [e.to];
      if (
        to.length === 0 ||
        to.some((a) => typeof a !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(a.replace(/^.*<(.+)>$/, '$1')))
      )
        throw fail(`${f}.to`, 'must be an email address or a list of them');
      if (e.subject !== undefined && (typeof e.subject !== 'string' || !e.subject.trim()))
        throw fail(`${f}.subject`, 'must be a non-empty string');
      return { type: 'email', to: to as string[], subject: (e.subject as string | undefined) ?? null };
    }
    case 'resubmit': {
      const r = v === true ? {} : v;
      if (!isObj(r)) throw fail(f, 'must be { delayMs, times }');
      only(r, ['delayMs', 'times'], f, fail);
      return {
        type: 'resubmit',
        delayMs: intIn(r.delayMs, `${f}.delayMs`, 0, 366 * DAY, 60_000, fail),
        times: intIn(r.times, `${f}.times`, 1, 1000, 3, fail),
      };
    }
    case 'discard':
      if (v !== true) throw fail(f, "must be true (or write the action as 'discard')");
      return { type: 'discard' };
    default:
      throw fail(field, `unknown action '${kind}'; use ${ACTION_KINDS.join(', ')}`);
  }
}

function only(o: Obj, keys: string[], field: string, fail: FieldError): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) throw fail(`${field}.${k}`, `is not a setting; use ${keys.join(', ')}`);
}

function intIn(v: unknown, field: string, min: number, max: number, dflt: number, fail: FieldError): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function httpUrl(v: unknown, field: string, fail: FieldError): string {
  let u: URL;
  try {
    u = new URL(String(v));
  } catch {
    throw fail(field, `must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (typeof v !== 'string' || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw fail(field, `must be an http(s) URL, got ${JSON.stringify(v)}`);
  return v.replace(/\/+$/, '') || v;
}

function compileSmtp(v: unknown, fail: FieldError): { url: string; from: string } {
  const s = isObj(v) ? v : { url: v };
  only(s, ['url', 'from'], 'smtp', fail);
  if (typeof s.url !== 'string' || !/^smtps?:\/\/[^/]/.test(s.url))
    throw fail('smtp.url', 'must be an smtp:// or smtps:// URL');
  if (s.from !== undefined && (typeof s.from !== 'string' || !s.from.includes('@')))
    throw fail('smtp.from', 'must be an address, e.g. "Taskbus <taskbus@example.com>"');
  return { url: s.url, from: (s.from as string | undefined) ?? DEFAULT_FROM };
}

function compileActionSettings(v: unknown, fail: FieldError): CompiledDeadLetterConfig['actions'] {
  const dflt = {
    maxDeliveryCount: 20,
    backoff: { ...DEFAULT_BACKOFF, delayMs: 2000, maxDelayMs: 600_000 },
    timeoutMs: 60_000,
  };
  if (v === undefined) return dflt;
  if (!isObj(v)) throw fail('deadLetters.actions', 'must be { maxDeliveryCount, backoff, timeoutMs }');
  only(v, ['maxDeliveryCount', 'backoff', 'timeoutMs'], 'deadLetters.actions', fail);
  try {
    const s = resolveSettings({
      maxDeliveryCount: dflt.maxDeliveryCount,
      backoff: dflt.backoff,
      timeoutMs: dflt.timeoutMs,
      ...v,
    });
    return { maxDeliveryCount: s.maxDeliveryCount, backoff: s.backoff, timeoutMs: s.timeoutMs };
  } catch (err) {
    const msg = (err as Error).message;
    throw fail(`deadLetters.actions.${msg.split(' ')[0]}`, msg.slice(msg.indexOf(' ') + 1));
  }
}

// ---- choosing a rule ----

/** Actions that run as internal tasks, with their index in the rule. */
export function taskActions(rule: CompiledRule): { index: number; action: TaskAction }[] {
  return rule.actions.flatMap((a, index) => (a.type === 'discard' ? [] : [{ index, action: a }]));
}

/** How often a rule already resubmitted this message (from its history). */
export function resubmitsByRule(m: Pick<MessageRecord, 'history'>, rule: string): number {
  return m.history.filter((h) => h.type === 'resubmitted' && h.data.rule === rule).length;
}

/**
 * Which dead-lettering of the message this is: 1 + the resubmits so far. A message leaves the
 * DLQ only by resubmit (or purge, which deletes it), so each dead-lettering has its own number.
 */
export function occurrenceOf(m: Pick<MessageRecord, 'history'>): number {
  return m.history.filter((h) => h.type === 'resubmitted').length + 1;
}

export interface RuleChoice {
  rule: CompiledRule | null;
  /** Rules whose `when` held but were passed over, with why. */
  skipped: { rule: string; why: string }[];
}

/** The first rule that applies to the message now. */
export function chooseRule(rules: readonly CompiledRule[], m: MessageRecord): RuleChoice {
  const skipped: RuleChoice['skipped'] = [];
  for (const rule of rules) {
    if (!matchesCondition(rule.when, m)) continue;
    const resubmit = rule.actions.find((a) => a.type === 'resubmit');
    if (resubmit) {
      const done = resubmitsByRule(m, rule.name);
      if (done >= resubmit.times) {
        skipped.push({ rule: rule.name, why: `resubmit limit reached (${done} of ${resubmit.times})` });
        continue;
      }
    }
    return { rule, skipped };
  }
  return { rule: null, skipped };
}

/** The `rule.matched` / `rule.unmatched` event already recorded for this dead-lettering, if any. */
export function recordedChoice(m: Pick<MessageRecord, 'history'>, occurrence: number): HistoryEvent | null {
  return (
    m.history.find(
      (h) =>
        (h.type === RULE_EVENTS.matched || h.type === RULE_EVENTS.unmatched) &&
        h.data.occurrence === occurrence,
    ) ?? null
  );
}

/** Indexes of the actions of (rule, occurrence) that succeeded. */
export function succeededActions(
  m: Pick<MessageRecord, 'history'>,
  rule: string,
  occurrence: number,
): Set<number> {
  return new Set(
    m.history
      .filter(
        (h) =>
          h.type === RULE_EVENTS.action &&
          h.data.rule === rule &&
          h.data.occurrence === occurrence &&
          h.data.status === 'succeeded',
      )
      .map((h) => h.data.action as number),
  );
}

export function wasHandled(m: Pick<MessageRecord, 'history'>, rule: string, occurrence: number): boolean {
  return m.history.some(
    (h) => h.type === RULE_EVENTS.handled && h.data.rule === rule && h.data.occurrence === occurrence,
  );
}

/** A short label of an action for people: `invoke remedy`, `email team@x`, `webhook https://…`. */
export function describeAction(a: CompiledAction): string {
  switch (a.type) {
    case 'invoke':
      return `invoke ${a.task}`;
    case 'webhook':
      return `webhook ${a.url}`;
    case 'email':
      return `email ${a.to.join(', ')}`;
    case 'resubmit':
      return `resubmit after ${a.delayMs} ms (at most ${a.times} times)`;
    case 'discard':
      return 'discard';
  }
}

/** The dry run of one message: which rule would take it now, and why others were passed over. */
export function explainMessage(rules: readonly CompiledRule[], m: MessageRecord) {
  const { rule, skipped } = chooseRule(rules, m);
  return {
    id: m.id,
    name: m.name,
    deadLetterReason: m.deadLetterReason,
    deadLetteredAt: m.deadLetteredAt === null ? null : new Date(m.deadLetteredAt).toISOString(),
    rule: rule?.name ?? null,
    mode: rule?.mode ?? null,
    actions: rule ? rule.actions.map(describeAction) : [],
    skipped,
  };
}
