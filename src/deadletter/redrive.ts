/**
 * Redrive: select dead-lettered messages by ids, by filter or all, then resubmit (optionally
 * with an edited body, or to another task), purge, export, or dry-run the rules over them.
 *
 * A resubmit moves each message (same id, never a copy): all the selected messages of one task
 * name move in one transaction, and each carries a `resubmitted` history event saying who did
 * it and with which filter. Selection reads the DLQ page by page (newest first); a message that
 * changes between selection and move is moved only if it is still dead-lettered.
 */
import { TaskbusError } from '../errors.ts';
import { taskDocument } from '../http/documents.ts';
import type { Taskbus } from '../taskbus.ts';
import type { MessageRecord } from '../types.ts';
import { EMPTY_CONDITION, matchesCondition } from './condition.ts';
import { compileFilter, type DeadLetterFilter, describeFilter } from './filter.ts';
import { explainMessage } from './rules.ts';
import type { CompiledCondition, CompiledRule } from './types.ts';

/** Filter-based operations read at most this many dead-lettered messages, then ask to narrow. */
export const MAX_SCAN = 100_000;
const PAGE = 500;

/** Which dead-lettered messages: exactly one of ids, filter or all. */
export type Selection =
  | { ids: string[] }
  | { filter: DeadLetterFilter | Record<string, unknown> }
  | { all: true };

/** Checks a selection from an API body or CLI flags. */
export function parseSelection(b: Record<string, unknown>): Selection {
  const given = ['ids', 'filter', 'all'].filter((k) => b[k] !== undefined && b[k] !== false);
  if (given.length !== 1)
    throw new TaskbusError(
      'BAD_REQUEST',
      'send exactly one of { "ids": [...] }, { "filter": {...} } or { "all": true }',
    );
  if (b.ids !== undefined) {
    if (!Array.isArray(b.ids) || b.ids.length === 0 || b.ids.some((x) => typeof x !== 'string'))
      throw new TaskbusError('BAD_REQUEST', 'ids must be a non-empty array of message ids', {
        details: { field: 'ids' },
      });
    if (b.ids.length > 10_000) throw new TaskbusError('BAD_REQUEST', 'at most 10000 ids per call');
    return { ids: b.ids as string[] };
  }
  if (b.all !== undefined) {
    if (b.all !== true)
      throw new TaskbusError('BAD_REQUEST', 'all must be true', { details: { field: 'all' } });
    return { all: true };
  }
  if (typeof b.filter !== 'object' || b.filter === null || Array.isArray(b.filter))
    throw new TaskbusError('BAD_REQUEST', 'filter must be an object', { details: { field: 'filter' } });
  return { filter: b.filter as Record<string, unknown> };
}

/**
 * Every dead-lettered message matching `c`, task by task (the filter's tasks, else every public
 * task with dead letters), newest first.
 */
export async function* scanDeadLetters(tb: Taskbus, c: CompiledCondition): AsyncGenerator<MessageRecord> {
  const names =
    c.tasks ??
    (await tb.counts()).filter((q) => q.deadlettered > 0 && !q.name.startsWith('$')).map((q) => q.name);
  let scanned = 0;
  for (const name of names) {
    let cursor: string | null = null;
    do {
      const page: { items: MessageRecord[]; nextCursor: string | null } = await tb.browse(
        name,
        'deadlettered',
        {
          limit: PAGE,
          cursor,
        },
      );
      scanned += page.items.length;
      if (scanned > MAX_SCAN) {
        throw new TaskbusError(
          'BAD_REQUEST',
          `more than ${MAX_SCAN} dead-lettered messages to examine: narrow the filter (task, since, until)`,
        );
      }
      for (const m of page.items) if (matchesCondition(c, m)) yield m;
      cursor = page.nextCursor;
    } while (cursor);
  }
}

/** The messages a selection names, and the ids that are not dead-lettered messages. */
export async function selectDeadLetters(
  tb: Taskbus,
  sel: Selection,
): Promise<{ messages: MessageRecord[]; notFound: string[] }> {
  if ('ids' in sel) {
    const messages: MessageRecord[] = [];
    const notFound: string[] = [];
    for (const id of new Set(sel.ids)) {
      const m = await tb.getTask(id);
      if (m?.state === 'deadlettered') messages.push(m);
      else notFound.push(id);
    }
    return { messages, notFound };
  }
  const c = 'all' in sel ? EMPTY_CONDITION : compileFilter(sel.filter, tb.clock.now());
  const messages: MessageRecord[] = [];
  for await (const m of scanDeadLetters(tb, c)) messages.push(m);
  return { messages, notFound: [] };
}

/**
 * The task names when the selection is whole DLQs (all, or a filter naming only tasks): those
 * move or go with one statement per task, without reading every message first.
 */
async function wholeQueues(tb: Taskbus, sel: Selection): Promise<string[] | null> {
  if ('ids' in sel) return null;
  if ('all' in sel)
    return (await tb.counts())
      .filter((q) => q.deadlettered > 0 && !q.name.startsWith('$'))
      .map((q) => q.name);
  const f = sel.filter as Record<string, unknown>;
  const keys = Object.keys(f).filter((k) => f[k] !== undefined);
  if (keys.length !== 1 || keys[0] !== 'task') return null;
  return compileFilter(f, tb.clock.now()).tasks;
}

function byName(messages: MessageRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of messages) out.set(m.name, [...(out.get(m.name) ?? []), m.id]);
  return out;
}

/** How a selection is recorded in history. */
function selectionEvent(tb: Taskbus, sel: Selection): Record<string, unknown> {
  if ('ids' in sel) return { selection: 'ids' };
  if ('all' in sel) return { selection: 'all' };
  return {
    selection: 'filter',
    filter: describeFilter(sel.filter as Record<string, unknown>, tb.clock.now()),
  };
}

export interface RedriveOptions {
  /** Who asks, recorded in history, e.g. `{ by: 'cli', user: 'ada' }`. */
  by: Record<string, unknown>;
  /** Replaces the body of every moved message. */
  body?: unknown;
  /** Sends the messages to this task instead of their own. */
  toName?: string;
  /** Only report what would move. */
  dryRun?: boolean;
}

/** Resubmits the selected dead-lettered messages; answers which moved and which ids were not found. */
export async function redrive(
  tb: Taskbus,
  sel: Selection,
  o: RedriveOptions,
): Promise<{ resubmitted: string[]; notFound: string[] }> {
  if (o.toName !== undefined) tb.task(o.toName);
  const event = { ...o.by, ...selectionEvent(tb, sel) };
  const resubmitted: string[] = [];
  const whole = o.dryRun ? null : await wholeQueues(tb, sel);
  if (whole) {
    for (const name of whole) {
      const r = await tb.resubmit(name, { all: true, body: o.body, toName: o.toName, event });
      resubmitted.push(...r.resubmitted);
    }
    tb.log.info(
      { ...event, count: resubmitted.length, toName: o.toName },
      'dead-lettered messages resubmitted',
    );
    return { resubmitted, notFound: [] };
  }
  const { messages, notFound } = await selectDeadLetters(tb, sel);
  if (o.dryRun) return { resubmitted: messages.map((m) => m.id), notFound };
  for (const [name, ids] of byName(messages)) {
    const r = await tb.resubmit(name, { ids, body: o.body, toName: o.toName, event });
    resubmitted.push(...r.resubmitted);
    notFound.push(...r.notFound);
  }
  tb.log.info(
    { ...event, count: resubmitted.length, toName: o.toName },
    'dead-lettered messages resubmitted',
  );
  return { resubmitted, notFound };
}

/** Deletes the selected dead-lettered messages. `ids` lists them, except for whole queues (not read first). */
export async function purgeDeadLetters(
  tb: Taskbus,
  sel: Selection,
  o: { by: Record<string, unknown>; dryRun?: boolean },
): Promise<{ purged: number; ids: string[]; notFound: string[] }> {
  const whole = o.dryRun ? null : await wholeQueues(tb, sel);
  if (whole) {
    let purged = 0;
    for (const name of whole) purged += (await tb.purge(name)).purged;
    tb.log.info({ ...o.by, ...selectionEvent(tb, sel), count: purged }, 'dead-lettered messages purged');
    return { purged, ids: [], notFound: [] };
  }
  const { messages, notFound } = await selectDeadLetters(tb, sel);
  if (o.dryRun) return { purged: 0, ids: messages.map((m) => m.id), notFound };
  let purged = 0;
  for (const [name, ids] of byName(messages)) purged += (await tb.purge(name, ids)).purged;
  tb.log.info({ ...o.by, ...selectionEvent(tb, sel), count: purged }, 'dead-lettered messages purged');
  return { purged, ids: messages.map((m) => m.id), notFound };
}

/** The DLQ (or the part a filter selects) as documents, one per message: for JSON lines. */
export async function* exportDeadLetters(
  tb: Taskbus,
  filter: DeadLetterFilter | Record<string, unknown> = {},
): AsyncGenerator<ReturnType<typeof taskDocument>> {
  for await (const m of scanDeadLetters(tb, compileFilter(filter, tb.clock.now()))) yield taskDocument(m);
}

/** The dry run: which rule would take each dead-lettered message now. Changes nothing. */
export async function testRules(
  tb: Taskbus,
  rules: readonly CompiledRule[],
  filter: DeadLetterFilter | Record<string, unknown> = {},
) {
  const messages = [];
  const summary: Record<string, number> = {};
  for await (const m of scanDeadLetters(tb, compileFilter(filter, tb.clock.now()))) {
    const e = explainMessage(rules, m);
    messages.push(e);
    const k = e.rule ?? '(no rule)';
    summary[k] = (summary[k] ?? 0) + 1;
  }
  return { rules: rules.map((r) => r.name), messages, summary };
}
