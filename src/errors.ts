/**
 * The error registry: every error the product raises on purpose has a stable code, an HTTP
 * status and a title. Drivers and core throw these; one HTTP handler maps them to problem+json
 * (RFC 9457) with `type` = `https://taskbus.dev/errors/<code>`.
 */

export interface ErrorDefinition {
  status: number;
  title: string;
  /** Why a user sees this and what to do, shown in docs/errors.md. */
  doc: string;
}

export const ERRORS = {
  LOCK_LOST: {
    status: 409,
    title: 'Lock lost',
    doc: 'The lock token is no longer current: the lock expired, or the message was settled or moved.',
  },
  TASK_NOT_FOUND: { status: 404, title: 'Task not found', doc: 'No task file defines this task name.' },
  MESSAGE_NOT_FOUND: { status: 404, title: 'Message not found', doc: 'No message has this id.' },
  ROUTE_NOT_FOUND: { status: 404, title: 'Route not found', doc: 'No endpoint has this method and path.' },
  UNAUTHORIZED: {
    status: 401,
    title: 'Unauthorized',
    doc: 'The request carries no valid key for this endpoint (x-functions-key, ?code= or Bearer).',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Forbidden',
    doc: 'The request is not allowed (for example a missing CSRF token).',
  },
  BAD_REQUEST: { status: 400, title: 'Bad request', doc: 'A header, query parameter or body is malformed.' },
  MALFORMED_JSON: {
    status: 400,
    title: 'Malformed JSON',
    doc: 'The body is declared JSON but does not parse.',
  },
  BODY_TOO_LARGE: {
    status: 413,
    title: 'Body too large',
    doc: 'The body is over the configured limit (default 256 KiB).',
  },
  SCHEMA_VALIDATION: {
    status: 422,
    title: 'Body does not match the task schema',
    doc: "The JSON body fails the task's `schema`; `errors` names each failing path.",
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    doc: 'The key is over its rate limit; see Retry-After.',
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    title: 'Storage unavailable',
    doc: 'The database could not be reached; nothing was stored. Retry later.',
  },
  NOT_READY: { status: 503, title: 'Not ready', doc: 'The process is starting or stopping.' },
  INVALID_TASK: {
    status: 500,
    title: 'Invalid task file',
    doc: 'A task file failed to load, has a bad name or a bad setting. The start stops.',
  },
  INVALID_CONFIG: { status: 500, title: 'Invalid configuration', doc: 'A configuration value is invalid.' },
  SCHEMA_TOO_NEW: {
    status: 500,
    title: 'Database schema is newer than this version',
    doc: 'The database was migrated by a newer Taskbus. Upgrade this process.',
  },
  INVALID_STATE: {
    status: 409,
    title: 'Invalid state',
    doc: 'The message is not in a state that allows this.',
  },
  INTERNAL: { status: 500, title: 'Internal error', doc: 'An unexpected error; see the server log.' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

/** An error from the registry. `details` is extra machine-readable context for problem+json. */
export class TaskbusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message ?? ERRORS[code].title, { cause: options?.cause });
    this.name = 'TaskbusError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = options?.details;
  }
}

/** Thrown when settling or renewing with a lock token that is no longer current. */
export class LockLostError extends TaskbusError {
  constructor(message = 'lock expired or the message was settled elsewhere') {
    super('LOCK_LOST', message);
    this.name = 'LockLostError';
  }
}

export function isTaskbusError(err: unknown, code?: ErrorCode): err is TaskbusError {
  return err instanceof TaskbusError && (code === undefined || err.code === code);
}
