import type { AuthLevel, TaskSettings } from '../core/settings.ts';
import type { BackoffSettings, Json } from '../types.ts';

/** What a handler receives besides the body (SPEC §2). */
export interface TaskContext {
  id: string;
  name: string;
  deliveryCount: number;
  enqueuedAt: Date;
  /** Aborts on timeout, lost lock or shutdown. */
  signal: AbortSignal;
  log: TaskLogger;
  /** Records a progress value (any JSON) visible in the status document. */
  progress(value: Json): Promise<void>;
  /** Stops now and dead-letters the message with this reason: no more retries. */
  deadLetter(reason: string, description?: string): never;
  /** Enqueues a follow-up task. */
  enqueue(name: string, body?: unknown, options?: EnqueueOptions): Promise<{ id: string }>;
}

export interface TaskLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface EnqueueOptions {
  /** Deliver after this many milliseconds. */
  delayMs?: number;
  /** Deliver at this time (Date, ISO string or epoch ms); a past time means now. */
  scheduledFor?: Date | string | number;
  /** Dead-letter as TTLExpiredException if not delivered within this many ms of enqueue. */
  ttlMs?: number;
  /** A second enqueue with the same key within 24 h returns the first task. */
  idempotencyKey?: string;
  /** W3C trace context to continue. */
  traceparent?: string;
  /**
   * PostgreSQL only: a `pg` client inside the application's own transaction (after BEGIN). The
   * task is committed or rolled back with the application's data; Taskbus neither begins nor
   * commits it.
   */
  transaction?: unknown;
  /** For bytes bodies (Buffer): their content type. */
  contentType?: string;
}

export type TaskHandler<Body = any, Result = unknown> = (
  body: Body,
  ctx: TaskContext,
) => Promise<Result> | Result;

/** The object form of a task file's default export. */
export interface TaskDefinition<Body = any, Result = unknown> {
  handler: TaskHandler<Body, Result>;
  description?: string;
  maxDeliveryCount?: number;
  backoff?: BackoffSettings;
  lockDurationMs?: number;
  timeoutMs?: number;
  concurrency?: number;
  /** At most this many messages received ahead of free handler slots (default 4 × concurrency, at least 500; 0 for none). */
  prefetchCount?: number;
  ttlMs?: number;
  schema?: Record<string, unknown>;
  auth?: AuthLevel;
}

/** A task file's default export: a bare handler or a definition. */
export type TaskExport = TaskHandler | TaskDefinition;

/** Identity, for types: `export default defineTask({ handler, maxDeliveryCount: 5 })`. */
export function defineTask<Body = any, Result = unknown>(
  task: TaskDefinition<Body, Result>,
): TaskDefinition<Body, Result> {
  return task;
}

/** A task as the runtime uses it: name, handler and resolved settings. */
export interface LoadedTask {
  name: string;
  handler: TaskHandler;
  settings: TaskSettings;
  description: string | null;
  /** The file it came from, or null for a task given in code. */
  file: string | null;
}
