import type {
  Attempt,
  AttemptError,
  HistoryEvent,
  Json,
  MessageRecord,
  MessageState,
  QueueCounts,
  StoredBody,
} from '../types.ts';

/**
 * The storage driver interface, designed from peek-lock queue semantics (Service Bus, SQS),
 * not from any one database. Every method is one state transition in one statement or
 * transaction and takes one params object. Drivers decide nothing: backoff, "retry or
 * dead-letter" and rules live in `core/`; time comes in as `now` (epoch ms).
 *
 * Every driver passes the one contract suite in `test/contract/driver.contract.ts`.
 */
export interface StorageDriver {
  readonly kind: string;
  readonly capabilities: DriverCapabilities;

  /** Applies pending migrations (idempotent; safe when many processes start at once). */
  migrate(): Promise<void>;
  /** Releases connections. The driver is unusable afterwards. */
  close(): Promise<void>;
  /** Cheap round trip proving the storage answers (readiness). */
  ping(): Promise<void>;

  /**
   * Stores messages, all or nothing. A message with an idempotency key already used for the
   * same task name within its retention is not stored again: its result names the first
   * message with `created: false`.
   */
  enqueue(p: EnqueueParams): Promise<EnqueueResult[]>;

  /**
   * Locks up to `limit` visible messages of one task for `lockDurationMs`, oldest visible
   * first: increments `deliveryCount` and mints a new lock token per message. Messages past
   * their `expiresAt` (TTL) are not delivered.
   */
  receive(p: ReceiveParams): Promise<ReceivedMessage[]>;

  /** Extends a lock. Throws LockLostError when the token is not current or the lock expired. */
  renewLock(p: {
    id: string;
    lockToken: string;
    lockDurationMs: number;
    now: number;
  }): Promise<{ lockedUntil: number }>;

  /**
   * Settles deliveries in one transaction: each is applied only while its lock token is current
   * and its lock has not expired; the result says per item whether it applied ('ok') or the lock
   * was lost ('lockLost'). Use `settleOne` (below) to get a thrown LockLostError instead.
   * Every settlement records the attempt; dead-lettering a message of a public task also
   * enqueues a `$deadletter` event message in the same transaction when `deadLetterEvents`
   * was enabled (the durable outbox that rules consume).
   */
  settle(p: { settlements: Settlement[]; now: number }): Promise<SettleOutcome[]>;

  /** Records the handler's progress value. Throws LockLostError when the token is not current. */
  setProgress(p: { id: string; lockToken: string; progress: Json; now: number }): Promise<void>;

  /** Messages whose lock expired before they were settled (crashed or stalled workers). */
  findExpiredLocks(p: { now: number; limit: number }): Promise<ExpiredLock[]>;

  /**
   * Applies the decisions core made for expired locks, each only if the message is still
   * locked with that token and the lock is still expired (a late renew wins). Records the lost
   * delivery as an attempt. Returns the ids that were rescued.
   */
  rescue(p: { items: Rescue[]; now: number }): Promise<string[]>;

  /** Dead-letters messages whose TTL passed before their first delivery. Returns their ids. */
  expireTtl(p: { now: number; limit: number }): Promise<string[]>;

  /** One message with its attempts and history, or null. */
  getMessage(p: { id: string; now: number }): Promise<MessageRecord | null>;

  /** Peeks messages of one task in one state, newest first by enqueue time, with a cursor. */
  browse(p: BrowseParams): Promise<{ items: MessageRecord[]; nextCursor: string | null }>;

  /**
   * Moves dead-lettered messages back to their queue (same id, never a copy): deliveryCount 0,
   * reason cleared, attempts kept, a history event added. Optionally with a new body or to
   * another task name.
   */
  resubmit(p: ResubmitParams): Promise<{ resubmitted: string[]; notFound: string[] }>;

  /** Deletes dead-lettered messages of a task (all, or the given ids). */
  purge(p: { name: string; ids?: string[]; now: number }): Promise<{ purged: number }>;

  /** Cancels a scheduled or queued (not running) message: it is dead-lettered as `Cancelled`. */
  cancel(p: { id: string; now: number; reason?: string }): Promise<boolean>;

  /** Appends an event to a message's history. */
  addHistory(p: { id: string; event: HistoryEvent }): Promise<void>;

  /** Counts per state for every task name that has messages (or the given names). */
  counts(p: { now: number; names?: string[] }): Promise<QueueCounts[]>;

  /**
   * Outcomes per task and time bucket in [since, now]: completions (by the minute they happened
   * in), failed attempts (by end time) and dead-lettered messages (by dead-letter time). Bucket
   * `i` covers [since + i × bucketMs, since + (i + 1) × bucketMs); empty buckets are left out.
   * Completions are counted per minute, not kept one by one: `since` and `bucketMs` should be
   * whole minutes (the dashboard's are), and a minute counts while its completions are retained.
   * Feeds the dashboard's throughput chart.
   */
  activity(p: ActivityParams): Promise<ActivityBucket[]>;

  /**
   * Housekeeping: deletes completed messages older than `completedRetentionMs` and idempotency
   * keys older than `idempotencyRetentionMs`. Bounded by `limit` rows per call.
   */
  maintain(p: {
    now: number;
    completedRetentionMs: number;
    idempotencyRetentionMs: number;
    limit: number;
  }): Promise<{
    deletedMessages: number;
    deletedKeys: number;
  }>;

  /** Earliest `visibleAt` of a waiting message among `names` that is after `now`, or null. */
  nextVisibleAt(p: { names: string[]; now: number }): Promise<number | null>;

  /**
   * Counts a hit on a rate-limit counter and answers the count in the current window, across
   * every process sharing the storage (one atomic statement). Windows are fixed and aligned:
   * [k × windowMs, (k + 1) × windowMs); a hit in a later window restarts the count at `cost`.
   * `resetAt` is the end of the current window. A counter (`key`) uses one window length.
   */
  hitRateLimit(p: RateLimitHit): Promise<{ count: number; resetAt: number }>;

  /** Key-value settings (master key hash, instance id). */
  getSetting(p: { key: string }): Promise<string | null>;
  /** Sets a setting only if absent; returns the value now stored. */
  initSetting(p: { key: string; value: string }): Promise<string>;

  /** API keys, stored hashed. */
  createKey(p: { key: ApiKeyRecord }): Promise<void>;
  listKeys(): Promise<ApiKeyRecord[]>;
  findKeyByHash(p: { hash: string }): Promise<ApiKeyRecord | null>;
  revokeKey(p: { id: string; now: number }): Promise<boolean>;

  /**
   * Calls `listener` with task names when messages may have become visible, from any process
   * that shares the storage (PostgreSQL LISTEN/NOTIFY; SQLite a watch on the file). An empty
   * list means any task. Used only when capabilities.notifications is true; workers poll as
   * well, in case a notification is lost.
   */
  subscribe?(listener: (names: string[]) => void): Promise<() => Promise<void>>;
}

export interface DriverCapabilities {
  /** Processes on different machines may share this storage. SQLite: false (one host). */
  multiHost: boolean;
  /** Cross-process wake-ups without polling. */
  notifications: boolean;
  /** `enqueue` can join a transaction the application owns (PostgreSQL client). */
  transactionalEnqueue: boolean;
}

export interface DriverOptions {
  /** Enqueue a `$deadletter` event message atomically with every dead-lettering. */
  deadLetterEvents?: boolean;
}

export interface NewMessage {
  /** Minted by the caller (UUIDv7) so a retried request can be recognised. */
  id: string;
  name: string;
  body: StoredBody;
  /** When the message becomes visible; `now` for immediate. */
  visibleAt: number;
  /** TTL deadline before the first delivery, or null. */
  expiresAt: number | null;
  idempotencyKey: string | null;
  traceparent: string | null;
}

export interface EnqueueParams {
  messages: NewMessage[];
  now: number;
  /**
   * An application's own database client or transaction to enqueue in (PostgreSQL only; see
   * capabilities.transactionalEnqueue). The driver then neither begins nor commits.
   */
  transaction?: unknown;
}

export interface EnqueueResult {
  id: string;
  /** False when an idempotency key matched: `id` is the first message's. */
  created: boolean;
}

export interface ReceiveParams {
  name: string;
  limit: number;
  lockDurationMs: number;
  workerId: string;
  now: number;
}

export interface ReceivedMessage {
  id: string;
  name: string;
  body: StoredBody;
  deliveryCount: number;
  enqueuedAt: number;
  lockToken: string;
  lockedUntil: number;
  traceparent: string | null;
}

/** The attempt a settlement records. The attempt number is the message's delivery count. */
export interface AttemptInput {
  startedAt: number;
  endedAt: number;
  worker: string | null;
  error: AttemptError | null;
}

export type Settlement =
  | { kind: 'complete'; id: string; lockToken: string; result: Json; attempt: AttemptInput }
  | { kind: 'abandon'; id: string; lockToken: string; visibleAt: number; attempt: AttemptInput }
  | {
      kind: 'deadletter';
      id: string;
      lockToken: string;
      reason: string;
      description: string;
      attempt: AttemptInput;
    };

export type SettleOutcome = 'ok' | 'lockLost';

export interface ExpiredLock {
  id: string;
  name: string;
  lockToken: string;
  deliveryCount: number;
  lockedAt: number;
  lockedUntil: number;
  lockedBy: string | null;
}

export type Rescue =
  | { id: string; lockToken: string; outcome: 'retry'; visibleAt: number; attempt: AttemptInput }
  | {
      id: string;
      lockToken: string;
      outcome: 'deadletter';
      reason: string;
      description: string;
      attempt: AttemptInput;
    };

export interface BrowseParams {
  name: string;
  state: MessageState;
  limit: number;
  cursor?: string | null;
  now: number;
}

export interface ResubmitParams {
  name: string;
  /** Exactly one of ids or all. */
  ids?: string[];
  all?: boolean;
  now: number;
  /** Replace the body on the way out. */
  body?: StoredBody;
  /** Send to another task instead of the original. */
  toName?: string;
  /** Recorded in the history event (who, which filter). */
  event?: Record<string, unknown>;
}

export interface ActivityParams {
  since: number;
  now: number;
  /** Bucket width, e.g. 60000 for per-minute counts. */
  bucketMs: number;
}

export interface ActivityBucket {
  name: string;
  /** Start of the bucket (epoch ms). */
  at: number;
  completed: number;
  /** Attempts that ended with an error (retried or not). */
  failed: number;
  deadlettered: number;
}

export interface RateLimitHit {
  /** The counter, e.g. `key:<key id>:<windowMs>`. */
  key: string;
  windowMs: number;
  now: number;
  /** How much this hit counts (default 1). */
  cost?: number;
}

export interface ApiKeyRecord {
  id: string;
  /** A label chosen by the user. */
  label: string;
  /** 'function' opens one task's endpoints; 'host' every task's. */
  scope: 'function' | 'host';
  /** The task a function key opens; null for host keys. */
  task: string | null;
  /** SHA-256 of the key, hex. */
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export type { Attempt };
