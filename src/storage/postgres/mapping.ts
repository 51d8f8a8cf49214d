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

/**
 * Parameters of the `settle` and `rescue` statements: the batch as one JSON array (absent keys
 * are null), `ord` its 1-based position. Event ids are minted only when needed.
 */
export function settleParams(items: Settlement[], now: number, events: boolean, channel: string): unknown[] {
  const rows = items.map((s, i) => {
    const a = s.attempt;
    const row: Record<string, unknown> = {
      kind: s.kind,
      id: s.id,
      token: s.lockToken,
      started_at: a.startedAt,
      ended_at: a.endedAt,
      worker: a.worker,
      ord: i + 1,
    };
    if (a.error) row.error = JSON.stringify(a.error);
    if (s.kind === 'complete') row.result = JSON.stringify(s.result ?? null);
    else if (s.kind === 'abandon') row.visible_at = s.visibleAt;
    else {
      row.reason = s.reason;
      row.description = s.description;
      if (events) row.event_id = newId(now);
    }
    return row;
  });
  return [now, JSON.stringify(rows), events, channel];
}

/**
 * Parameters of the `complete` statement when every item of a batch is a success recorded by one
 * worker; else undefined, and the batch goes through `settle`.
 */
export function completeParams(items: Settlement[], now: number): unknown[] | undefined {
  const worker = items[0].attempt.worker;
  const rows: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    const s = items[i];
    const a = s.attempt;
    if (s.kind !== 'complete' || a.error || a.worker !== worker) return undefined;
    rows.push({
      id: s.id,
      token: s.lockToken,
      result: JSON.stringify(s.result ?? null),
      started_at: a.startedAt,
      ended_at: a.endedAt,
      ord: i + 1,
    });
  }
  return [now, JSON.stringify(rows), worker];
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
 * A row of `receive`, in array mode: [id, body, body_bytes, content_type, delivery_count,
 * enqueued_at, traceparent]. The name, token and lock expiry are the ones the receive sent.
 */
export type ReceivedRow = [
  string,
  string | null,
  Buffer | null,
  string | null,
  number,
  number,
  string | null,
];

/**
 * UPDATE … RETURNING has no order. The rows chosen are the oldest visible; they are handed back
 * by id (UUIDv7: enqueue order), the order the SQLite driver returns them in.
 */
export function receivedFromRows(
  rows: ReceivedRow[],
  lock: { name: string; lockToken: string; lockedUntil: number },
): ReceivedMessage[] {
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return rows.map(([id, body, bytes, contentType, deliveryCount, enqueuedAt, traceparent]) => ({
    id,
    name: lock.name,
    body: bodyFromColumns(contentType === null ? body : bytes, contentType),
    deliveryCount,
    enqueuedAt,
    lockToken: lock.lockToken,
    lockedUntil: lock.lockedUntil,
    traceparent,
  }));
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
