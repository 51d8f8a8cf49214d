/**
 * The message and key rows both drivers read, and their mapping to records. The column names
 * are the same in every driver's schema; only how a body is stored differs, so the caller
 * decodes the body and the attempts and history it fetched its own way.
 */
import type { HistoryEvent, MessageRecord, QueueCounts, StoredBody } from '../types.ts';
import { parseJsonColumn, visibleState } from './common.ts';
import type { ApiKeyRecord, Attempt } from './driver.ts';

/** The columns of a message row (times as epoch ms numbers). */
export interface MessageRow {
  id: string;
  name: string;
  state: string;
  content_type: string | null;
  delivery_count: number;
  attempt_count: number;
  enqueued_at: number;
  visible_at: number;
  expires_at: number | null;
  lock_token: string | null;
  locked_at: number | null;
  locked_until: number | null;
  locked_by: string | null;
  completed_at: number | null;
  /** The end of a completed message's successful attempt (its start is locked_at). */
  ended_at: number | null;
  result: string | null;
  progress: string | null;
  dead_letter_reason: string | null;
  dead_letter_description: string | null;
  deadlettered_at: number | null;
  idempotency_key: string | null;
  traceparent: string | null;
}

export function recordFromRow(
  r: MessageRow,
  body: StoredBody,
  attempts: Attempt[],
  history: HistoryEvent[],
  now: number,
): MessageRecord {
  const locked = r.state === 'locked';
  return {
    id: r.id,
    name: r.name,
    state: visibleState(r.state, r.visible_at, r.locked_until, now),
    body,
    deliveryCount: r.delivery_count,
    enqueuedAt: r.enqueued_at,
    visibleAt: r.visible_at,
    expiresAt: r.expires_at,
    lockedUntil: locked ? r.locked_until : null,
    lockedBy: locked ? r.locked_by : null,
    completedAt: r.completed_at,
    result: parseJsonColumn(r.result),
    progress: parseJsonColumn(r.progress),
    deadLetterReason: r.dead_letter_reason,
    deadLetterErrorDescription: r.dead_letter_description,
    deadLetteredAt: r.deadlettered_at,
    idempotencyKey: r.idempotency_key,
    traceparent: r.traceparent,
    attempts: withSuccessfulAttempt(r, attempts),
    history,
  };
}

/**
 * A completed message's last, successful attempt is stored in its own row (started: locked_at,
 * ended: ended_at, worker: locked_by) rather than as an attempts row, which saves a write per
 * completion. Rows completed before that keep theirs in the attempts table and are left as read.
 */
function withSuccessfulAttempt(r: MessageRow, attempts: Attempt[]): Attempt[] {
  if (r.state !== 'completed' || r.completed_at === null) return attempts;
  if (attempts.some((a) => a.number === r.attempt_count)) return attempts;
  const success: Attempt = {
    number: r.attempt_count,
    startedAt: r.locked_at ?? r.completed_at,
    endedAt: r.ended_at ?? r.completed_at,
    worker: r.locked_by,
    error: null,
  };
  return [...attempts, success];
}

export function keyFromRow(r: {
  id: string;
  label: string;
  scope: ApiKeyRecord['scope'];
  task: string | null;
  hash: string;
  created_at: number;
  revoked_at: number | null;
}): ApiKeyRecord {
  return {
    id: r.id,
    label: r.label,
    scope: r.scope,
    task: r.task,
    hash: r.hash,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

/** Counts of a task with no messages. */
export function emptyCounts(name: string): QueueCounts {
  return { name, scheduled: 0, queued: 0, running: 0, completed: 0, deadlettered: 0, oldestQueuedAt: null };
}
