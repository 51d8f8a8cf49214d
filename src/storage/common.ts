/**
 * Pieces every driver shares: the browse cursor, row → record mapping of bodies and JSON
 * columns, and settleOne. No SQL here.
 */
import { LockLostError, TaskbusError } from '../errors.ts';
import type { Json, MessageState, StoredBody } from '../types.ts';
import type { ActivityBucket, ActivityParams, Settlement, StorageDriver } from './driver.ts';

/** The name of the internal task that carries dead-letter events to the rules. */
export const DEADLETTER_EVENT_TASK = '$deadletter';

/** Idempotency keys are kept 24 h from the first request (SPEC §4). */
export const IDEMPOTENCY_WINDOW_MS = 86_400_000;

export function encodeCursor(enqueuedAt: number, id: string): string {
  return Buffer.from(`${enqueuedAt}:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { enqueuedAt: number; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString();
  const i = text.indexOf(':');
  const enqueuedAt = Number(text.slice(0, i));
  if (i < 1 || !Number.isSafeInteger(enqueuedAt))
    throw new TaskbusError('BAD_REQUEST', 'cursor is not valid');
  return { enqueuedAt, id: text.slice(i + 1) };
}

/** Body columns: `body` holds JSON text, or bytes when `content_type` is set. */
export function bodyToColumns(body: StoredBody): { body: string | Buffer; contentType: string | null } {
  return body.kind === 'json'
    ? { body: body.json, contentType: null }
    : { body: body.bytes, contentType: body.contentType };
}

export function bodyFromColumns(body: unknown, contentType: string | null): StoredBody {
  if (contentType === null) {
    return { kind: 'json', json: Buffer.isBuffer(body) ? body.toString('utf8') : String(body) };
  }
  return { kind: 'bytes', bytes: Buffer.isBuffer(body) ? body : Buffer.from(String(body)), contentType };
}

/** Decodes a stored body for a handler or an API answer: parsed JSON, or a Buffer. */
export function decodeBody(body: StoredBody): unknown {
  return body.kind === 'json' ? JSON.parse(body.json) : body.bytes;
}

export function jsonBody(value: unknown): StoredBody {
  return { kind: 'json', json: JSON.stringify(value ?? null) };
}

export function parseJsonColumn(v: unknown): Json | undefined {
  if (v === null || v === undefined) return undefined;
  return JSON.parse(String(v)) as Json;
}

/** The state a client sees, from the stored state and the lock/visibility times. */
export function visibleState(
  stored: string,
  visibleAt: number,
  lockedUntil: number | null,
  now: number,
): MessageState {
  switch (stored) {
    case 'ready':
      return visibleAt > now ? 'scheduled' : 'queued';
    case 'locked':
      return lockedUntil !== null && lockedUntil > now ? 'running' : 'queued';
    case 'completed':
      return 'completed';
    default:
      return 'deadlettered';
  }
}

/** Settles one delivery; throws LockLostError when the token is not current. */
export async function settleOne(driver: StorageDriver, settlement: Settlement, now: number): Promise<void> {
  const [outcome] = await driver.settle({ settlements: [settlement], now });
  if (outcome !== 'ok') throw new LockLostError();
}

type ActivityKind = 'completed' | 'failed' | 'deadlettered';

/**
 * The resolution of completion counts: each driver counts completions per task and minute (epoch
 * minutes), so the activity chart's completions are placed by the minute they happened in.
 */
export const MINUTE_MS = 60_000;

/**
 * Merges per-kind `(name, bucket index, count)` rows from the activity queries into buckets,
 * sorted by name then time. Counts may arrive as strings (PostgreSQL bigint).
 */
export function mergeActivity(
  p: ActivityParams,
  rows: Record<ActivityKind, { name: string; b: number | string; n: number | string }[]>,
): ActivityBucket[] {
  const by = new Map<string, ActivityBucket>();
  for (const kind of ['completed', 'failed', 'deadlettered'] as const) {
    for (const r of rows[kind]) {
      const at = p.since + Number(r.b) * p.bucketMs;
      const key = `${r.name}\u0000${at}`;
      let e = by.get(key);
      if (!e) {
        e = { name: r.name, at, completed: 0, failed: 0, deadlettered: 0 };
        by.set(key, e);
      }
      e[kind] += Number(r.n);
    }
  }
  return [...by.values()].sort((a, b) => (a.name === b.name ? a.at - b.at : a.name < b.name ? -1 : 1));
}
