/**
 * Terminology — one word per concept, used the same way in code, docs and the API.
 *
 * - **task**: a named unit of work, defined by one task file (`tasks/NAME.ts`): a handler and
 *   its settings. "Task" also names one requested execution of it, as in "the task's status".
 * - **message**: the durable record of one requested task in storage: its body, state, delivery
 *   count, attempts and result. The id of a message is the id of the task the client sees.
 * - **queue**: the messages of one task name that are waiting to run. There is one queue per task.
 * - **lock**: a time-limited claim (peek-lock) a worker holds on one message while it runs it,
 *   identified by a **lock token**. Only the holder of the current token may settle the message.
 * - **delivery**: one hand-over of a message to a worker (a receive). Counted at delivery time.
 * - **attempt**: the record of one delivery: start, end, worker and error (null on success).
 * - **settle**: end a delivery: complete, abandon (retry later) or dead-letter.
 * - **dead-letter**: the state of a message that will not be retried, with a reason, kept for
 *   inspection, resubmission or purge. The dead-letter queue (DLQ) is all such messages of a task.
 * - **rule**: a declarative reaction to dead-lettered messages (remedy task, webhook, email…).
 * - **key**: a secret that authorizes HTTP calls: function (one task), host (all tasks) or master.
 *
 * Times are epoch milliseconds inside the product and ISO 8601 strings at the HTTP edge.
 */

/** The externally visible state of a message (SPEC §3). */
export type MessageState = 'scheduled' | 'queued' | 'running' | 'completed' | 'deadlettered';

export const MESSAGE_STATES: readonly MessageState[] = [
  'scheduled',
  'queued',
  'running',
  'completed',
  'deadlettered',
];

/** The well-known dead-letter reasons; a handler may give any other string. */
export const DeadLetterReason = {
  MaxDeliveryCountExceeded: 'MaxDeliveryCountExceeded',
  TTLExpiredException: 'TTLExpiredException',
} as const;

export type BackoffSettings =
  | { type: 'exponential'; delayMs?: number; maxDelayMs?: number; jitter?: boolean }
  | { type: 'fixed'; delayMs?: number; jitter?: boolean }
  | { type: 'none' };

/** A JSON value as stored for bodies and results. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The error recorded for a failed attempt. */
export interface AttemptError {
  name: string;
  message: string;
  stack?: string;
}

/** One delivery of a message. */
export interface Attempt {
  number: number;
  startedAt: number;
  endedAt: number;
  worker: string | null;
  error: AttemptError | null;
}

/** A body as stored: JSON, or raw bytes with their content type. */
export type StoredBody =
  | { kind: 'json'; json: string }
  | { kind: 'bytes'; bytes: Buffer; contentType: string };

/** An event in a message's history other than attempts (resubmits, rule runs, edits, cancels). */
export interface HistoryEvent {
  at: number;
  type: string;
  data: Record<string, unknown>;
}

/** A message with everything the product knows about it. */
export interface MessageRecord {
  id: string;
  name: string;
  state: MessageState;
  body: StoredBody;
  deliveryCount: number;
  enqueuedAt: number;
  /** When the message becomes (or became) visible to receivers. */
  visibleAt: number;
  expiresAt: number | null;
  lockedUntil: number | null;
  lockedBy: string | null;
  completedAt: number | null;
  result: Json | undefined;
  progress: Json | undefined;
  deadLetterReason: string | null;
  deadLetterErrorDescription: string | null;
  deadLetteredAt: number | null;
  idempotencyKey: string | null;
  traceparent: string | null;
  attempts: Attempt[];
  history: HistoryEvent[];
}

/** Counts of one task's messages per state, with the age anchor of the oldest waiting one. */
export interface QueueCounts {
  name: string;
  scheduled: number;
  queued: number;
  running: number;
  completed: number;
  deadlettered: number;
  /** Enqueue time of the oldest message visible now and not yet locked, or null. */
  oldestQueuedAt: number | null;
}
