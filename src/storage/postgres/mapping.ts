/**
 * Between JavaScript values and the PostgreSQL statements: the parallel arrays a batch is sent as,
 * and rows back to records. Pure functions, no I/O.
 */
import { newId } from '../../id.ts';
import type { MessageRecord, QueueCounts } from '../../types.ts';
import { bodyFromColumns, DEADLETTER_EVENT_TASK } from '../common.ts';
import type { NewMessage, ReceivedMessage, Settlement } from '../driver.ts';
import { keyFromRow, recordFromRow } from '../rows.ts';
import type { Row } from './statements.ts';

/** Rows → one array per column, for `unnest($n::type[], …)`. */
function columns(rows: unknown[][], width: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => []);
  for (const row of rows) {
    for (let i = 0; i < width; i++) cols[i].push(row[i]);
  }
  return cols;
}

/** Parameters of the `insert` statement: the messages of one or more enqueue calls. */
export function insertParams(batches: { messages: NewMessage[]; now: number }[], channel: string): unknown[] {
  const rows = batches.flatMap(({ messages, now }) =>
    messages.map((m) => [
      m.id,
      m.name,
      m.body.kind === 'json' ? m.body.json : null,
      m.body.kind === 'bytes' ? m.body.bytes : null,
      m.body.kind === 'bytes' ? m.body.contentType : null,
      now,
      m.visibleAt,
      m.expiresAt,
      m.idempotencyKey,
      m.traceparent,
    ]),
  );
  return [...columns(rows, 10), channel];
}

/** Parameters of the `settle` and `rescue` statements. Event ids are minted only when needed. */
export function settleParams(items: Settlement[], now: number, events: boolean, channel: string): unknown[] {
  const rows = items.map((s) => [
    s.kind,
    s.id,
    s.lockToken,
    s.kind === 'complete' ? JSON.stringify(s.result ?? null) : null,
    s.kind === 'abandon' ? s.visibleAt : null,
    s.kind === 'deadletter' ? s.reason : null,
    s.kind === 'deadletter' ? s.description : null,
    s.attempt.startedAt,
    s.attempt.endedAt,
    s.attempt.worker,
    s.attempt.error ? JSON.stringify(s.attempt.error) : null,
    s.kind === 'deadletter' && events ? newId(now) : null,
  ]);
  return [now, ...columns(rows, 12), events, channel];
}

/** The `$deadletter` event message (the outbox rules consume). */
export function deadLetterEvent(id: string, name: string, reason: string, now: number): NewMessage {
  return {
    id: newId(now),
    name: DEADLETTER_EVENT_TASK,
    body: { kind: 'json', json: JSON.stringify({ id, name, reason }) },
    visibleAt: now,
    expiresAt: null,
    idempotencyKey: null,
    traceparent: null,
  };
}

/**
 * UPDATE … RETURNING has no order. The rows chosen are the oldest visible; they are handed back
 * by id (UUIDv7: enqueue order), the order the SQLite driver returns them in.
 */
export function byId(a: Row, b: Row): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function receivedFromRow(row: Row): ReceivedMessage {
  return {
    id: row.id,
    name: row.name,
    body: bodyOf(row),
    deliveryCount: row.delivery_count,
    enqueuedAt: row.enqueued_at,
    lockToken: row.lock_token!,
    lockedUntil: row.locked_until!,
    traceparent: row.traceparent,
  };
}

function bodyOf(r: Row) {
  return bodyFromColumns(r.content_type === null ? r.body : r.body_bytes, r.content_type);
}

/** A row of the `get`/`browse` statements (attempts and history as JSON arrays). */
export function toRecord(r: Row, now: number): MessageRecord {
  return recordFromRow(
    r,
    bodyOf(r),
    (r.attempts_json ?? []) as MessageRecord['attempts'],
    (r.history_json ?? []) as MessageRecord['history'],
    now,
  );
}

export { keyFromRow };

/**
 * Rows of `countSettled` (name, state, n) and `countActive` (name, scheduled, queued, running,
 * oldest) → one QueueCounts per name, sorted; `names` are listed even without messages, and
 * when given only they are.
 */
export function mergeCounts(names: string[] | undefined, settled: any[], active: any[]): QueueCounts[] {
  const by = new Map<string, QueueCounts>();
  const entry = (name: string) => {
    let e = by.get(name);
    if (!e) {
      e = { name, scheduled: 0, queued: 0, running: 0, completed: 0, deadlettered: 0, oldestQueuedAt: null };
      by.set(name, e);
    }
    return e;
  };
  for (const n of names ?? []) entry(n);
  for (const r of settled) {
    const e = entry(r.name);
    if (r.state === 'completed') e.completed = r.n;
    else e.deadlettered = r.n;
  }
  for (const r of active) {
    Object.assign(entry(r.name), {
      scheduled: r.scheduled,
      queued: r.queued,
      running: r.running,
      oldestQueuedAt: r.oldest,
    });
  }
  const only = names ? new Set(names) : null;
  return [...by.values()]
    .filter((e) => !only || only.has(e.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}
