/**
 * What the OpenAPI document says about each route, beyond what @fastify/swagger reads from the
 * route table: summaries, the request-option headers, response shapes and problem+json errors.
 * Documentation only: these are merged into the document, never into route validation (the
 * routes validate at the edge in code, SPEC §4), so a doc change cannot change behaviour.
 *
 * Each task's own operations (`/api/<task>`, with the task's `schema` as the request body: the
 * same object the trigger validates with) are added per request, for what the caller's key
 * opens (names do not leak).
 */
import type { AuthLevel } from '../../core/settings.ts';
import type { LoadedTask } from '../../tasks/define.ts';
import type { Principal } from '../auth/keys.ts';

type Schema = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});
const json = (description: string, schema: Schema) => ({
  description,
  content: { 'application/json': { schema } },
});

export const COMPONENT_SCHEMAS: Record<string, Schema> = {
  Problem: {
    type: 'object',
    description: 'An RFC 9457 problem document.',
    properties: {
      type: { type: 'string', format: 'uri' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string', description: 'The stable error code (docs/errors.md).' },
    },
    required: ['type', 'title', 'status'],
  },
  Accepted: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      status: { type: 'string', enum: ['scheduled', 'queued', 'running', 'completed', 'deadlettered'] },
      statusUrl: { type: 'string', description: 'Same as the Location header.' },
    },
    required: ['id', 'name', 'status', 'statusUrl'],
  },
  Attempt: {
    type: 'object',
    properties: {
      number: { type: 'integer' },
      startedAt: { type: 'string', format: 'date-time' },
      endedAt: { type: 'string', format: 'date-time' },
      durationMs: { type: 'integer' },
      worker: { type: ['string', 'null'] },
      error: {
        type: ['object', 'null'],
        properties: {
          name: { type: 'string' },
          message: { type: 'string' },
          stack: { type: ['string', 'null'] },
        },
      },
    },
  },
  TaskStatus: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      status: { type: 'string', enum: ['scheduled', 'queued', 'running', 'completed', 'deadlettered'] },
      body: { description: 'The body as stored: JSON, or `{ contentType, size, base64 }` for bytes.' },
      result: { description: "The handler's return value (JSON), or null." },
      progress: { description: 'The last value the handler gave to ctx.progress, or null.' },
      deliveryCount: { type: 'integer' },
      enqueuedAt: { type: 'string', format: 'date-time' },
      scheduledFor: { type: 'string', format: 'date-time' },
      nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
      expiresAt: { type: ['string', 'null'], format: 'date-time' },
      completedAt: { type: ['string', 'null'], format: 'date-time' },
      deadLetterReason: { type: ['string', 'null'] },
      deadLetterErrorDescription: { type: ['string', 'null'] },
      deadLetteredAt: { type: ['string', 'null'], format: 'date-time' },
      lockedBy: { type: ['string', 'null'] },
      attempts: { type: 'array', items: ref('Attempt') },
      history: { type: 'array', items: { type: 'object' } },
    },
    required: ['id', 'name', 'status', 'deliveryCount', 'attempts'],
  },
  TaskType: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      description: { type: ['string', 'null'] },
      settings: { type: 'object' },
      counts: {
        type: 'object',
        properties: Object.fromEntries(
          ['scheduled', 'queued', 'running', 'completed', 'deadlettered'].map((s) => [
            s,
            { type: 'integer' },
          ]),
        ),
      },
      oldestQueuedAgeMs: { type: ['integer', 'null'] },
    },
  },
};

export const SECURITY_SCHEMES = {
  functionKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-functions-key',
    description: 'A function, host or master key (checked first).',
  },
  code: { type: 'apiKey', in: 'query', name: 'code', description: 'The key as a query parameter.' },
  bearer: { type: 'http', scheme: 'bearer', description: 'The key as a bearer token (checked last).' },
};
const KEYED = [{ functionKey: [] }, { code: [] }, { bearer: [] }];

/** The request-option headers of POST /api/{name} (SPEC §4), validated by http/options.ts. */
const OPTION_HEADERS = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      maxLength: 256,
      description: 'A repeat within 24 h answers 200 with the first task and enqueues nothing.',
    },
    'taskbus-delay-ms': {
      type: 'string',
      pattern: '^\\s*\\d+\\s*$',
      description: 'Deliver after this many milliseconds (at most 366 days).',
    },
    'taskbus-scheduled-for': {
      type: 'string',
      format: 'date-time',
      description: 'Deliver at this ISO 8601 time; a past time means now.',
    },
    'taskbus-ttl-ms': {
      type: 'string',
      pattern: '^\\s*\\d+\\s*$',
      description: 'Dead-letter as TTLExpiredException if not delivered within this many ms.',
    },
    traceparent: {
      type: 'string',
      description: 'W3C trace context: the handler continues this trace.',
    },
  },
};

const RATE_LIMITED = problem(
  'Over a rate limit: see `Retry-After` and the `RateLimit-*` headers (only when limits are configured).',
);

const ENQUEUE_RESPONSES = {
  202: {
    ...json('Stored: the task will run. `Location` is the status URL.', ref('Accepted')),
    headers: { Location: { schema: { type: 'string' } } },
  },
  200: json('An `Idempotency-Key` repeat: the first task, nothing enqueued.', ref('Accepted')),
  400: problem('A malformed option header or malformed JSON.'),
  401: problem('No valid key for this task.'),
  404: problem('No such task (only with a host or master key: names do not leak).'),
  413: problem('The body is over the limit (default 256 KiB).'),
  422: problem("The body fails the task's schema; `errors` names each path."),
  429: RATE_LIMITED,
  503: problem('Storage unavailable: nothing was stored.'),
};

const STATUS_RESPONSES = {
  200: json("The task's status, result and attempts.", ref('TaskStatus')),
  401: problem('No valid key for this task.'),
  404: problem('No such task or message.'),
  429: RATE_LIMITED,
};

const MASTER_ONLY = { 401: problem('The master key is required.') };
const nameParam = { type: 'object', properties: { name: { type: 'string', description: 'The task name.' } } };

/** Route docs in @fastify/swagger's schema form, by `METHOD url` as declared. */
export const ROUTE_DOCS: Record<string, Schema> = {
  'POST /api/:name': {
    summary: 'Enqueue a task (any task name)',
    description:
      'The HTTP trigger. JSON bodies (`application/json`, `+json`) are parsed and checked against the task schema; any other content type is stored as bytes; an empty body is null. Answers once the message is committed.',
    tags: ['tasks'],
    operationId: 'enqueue',
    params: nameParam,
    headers: OPTION_HEADERS,
    body: { description: 'Any JSON value; or bytes of any other content type, stored as they are.' },
    security: KEYED,
    response: ENQUEUE_RESPONSES,
  },
  'GET /api/:name/tasks/:id': {
    summary: "A task's status, result and attempts",
    tags: ['tasks'],
    operationId: 'getTask',
    security: KEYED,
    response: STATUS_RESPONSES,
  },
  'GET /admin/tasks': {
    summary: 'Task types with their settings and counts per state',
    tags: ['admin'],
    security: KEYED,
    response: {
      200: json('Every task type.', {
        type: 'object',
        properties: { tasks: { type: 'array', items: ref('TaskType') } },
      }),
      ...MASTER_ONLY,
    },
  },
  'GET /admin/tasks/:name/messages': {
    summary: 'Browse (peek) the messages of one task in one state, newest first',
    tags: ['admin'],
    querystring: {
      type: 'object',
      properties: {
        state: {
          type: 'string',
          enum: ['scheduled', 'queued', 'running', 'completed', 'deadlettered'],
          default: 'queued',
        },
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
        cursor: { type: 'string', description: 'The `nextCursor` of the previous page.' },
      },
    },
    security: KEYED,
    response: {
      200: json('One page.', {
        type: 'object',
        properties: {
          items: { type: 'array', items: ref('TaskStatus') },
          nextCursor: { type: ['string', 'null'] },
        },
      }),
      400: problem('An unknown state or a bad limit.'),
      ...MASTER_ONLY,
    },
  },
  'GET /admin/messages/:id': {
    summary: 'One message by id, whatever its task',
    tags: ['admin'],
    security: KEYED,
    response: {
      200: json('The message.', ref('TaskStatus')),
      404: problem('No such message.'),
      ...MASTER_ONLY,
    },
  },
  'POST /admin/messages/:id/cancel': {
    summary: 'Cancel a scheduled or queued message (dead-lettered as Cancelled)',
    tags: ['admin'],
    security: KEYED,
    response: {
      200: json('Cancelled.', { type: 'object', properties: { cancelled: { type: 'string' } } }),
      409: problem('The message is running or settled.'),
      ...MASTER_ONLY,
    },
  },
  'POST /admin/tasks/:name/deadletter/resubmit': {
    summary: 'Move dead-lettered messages back to their queue (same id, history kept)',
    tags: ['admin'],
    body: {
      oneOf: [
        {
          type: 'object',
          properties: { ids: { type: 'array', items: { type: 'string' } } },
          required: ['ids'],
        },
        { type: 'object', properties: { all: { const: true } }, required: ['all'] },
      ],
    },
    security: KEYED,
    response: {
      200: json('What moved.', {
        type: 'object',
        properties: {
          resubmitted: { type: 'integer' },
          ids: { type: 'array', items: { type: 'string' } },
          notFound: { type: 'array', items: { type: 'string' } },
        },
      }),
      ...MASTER_ONLY,
    },
  },
  'DELETE /admin/tasks/:name/deadletter': {
    summary: 'Purge the dead-letter queue of a task',
    tags: ['admin'],
    security: KEYED,
    response: {
      200: json('How many were deleted.', { type: 'object', properties: { purged: { type: 'integer' } } }),
      ...MASTER_ONLY,
    },
  },
  'GET /admin/keys': {
    summary: 'Function and host keys (never the keys themselves)',
    tags: ['admin'],
    security: KEYED,
    response: MASTER_ONLY,
  },
  'POST /admin/keys': {
    summary: 'Create a function or host key; the key is in this answer only',
    tags: ['admin'],
    body: {
      type: 'object',
      properties: {
        scope: { type: 'string', enum: ['function', 'host'] },
        task: { type: 'string' },
        label: { type: 'string' },
      },
    },
    security: KEYED,
    response: MASTER_ONLY,
  },
  'DELETE /admin/keys/:id': {
    summary: 'Revoke a key',
    tags: ['admin'],
    security: KEYED,
    response: MASTER_ONLY,
  },
  'GET /healthz': { summary: 'Liveness', tags: ['health'], security: [] },
  'GET /readyz': {
    summary: 'Readiness: storage reachable, migrations done, tasks loaded',
    tags: ['health'],
    security: [],
    response: { 503: problem('Starting, stopping, or storage unreachable.') },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics',
    tags: ['observability'],
    security: KEYED,
  },
  'GET /openapi.json': {
    summary: 'This document',
    description:
      "The tasks listed are those the presented key opens (anonymous tasks always); without a key, only the generic routes. `openapi.public` lists every task's operations.",
    tags: ['observability'],
    security: [],
  },
};

/** Whether the principal's key opens a task of this auth level (http/auth/guard.ts rules). */
function opens(p: Principal | null, name: string, level: AuthLevel): boolean {
  if (level === 'anonymous') return true;
  if (!p) return false;
  if (p.kind === 'master') return true;
  if (level === 'admin') return false;
  return p.kind === 'host' || p.task === name;
}

type Operation = Record<string, any>;
type Doc = { paths: Record<string, Record<string, Operation>>; [k: string]: unknown };

/** The operations of one task: its enqueue (body = the task's schema) and its status route. */
function taskOperations(base: Doc, t: LoadedTask): Record<string, Record<string, Operation>> {
  const enqueue = base.paths['/api/{name}']?.post ?? { responses: {} };
  const status = base.paths['/api/{name}/tasks/{id}']?.get ?? { responses: {} };
  const security = t.settings.auth === 'anonymous' ? [] : enqueue.security;
  const withoutName = (ps: Operation[] | undefined) =>
    (ps ?? []).filter((p) => !(p.in === 'path' && p.name === 'name'));
  return {
    [`/api/${t.name}`]: {
      post: {
        ...enqueue,
        operationId: `enqueue_${t.name}`,
        summary: `Enqueue ${t.name}`,
        description: t.description ?? enqueue.description,
        tags: ['tasks'],
        parameters: withoutName(enqueue.parameters),
        requestBody: {
          required: false,
          content: {
            'application/json': { schema: t.settings.schema ?? {} },
            ...(t.settings.schema ? {} : { '*/*': { schema: { type: 'string', format: 'binary' } } }),
          },
        },
        security,
      },
    },
    [`/api/${t.name}/tasks/{id}`]: {
      get: {
        ...status,
        operationId: `getTask_${t.name}`,
        summary: `Status of a ${t.name} task`,
        tags: ['tasks'],
        parameters: withoutName(status.parameters),
        security,
      },
    },
  };
}

/**
 * The document for one caller: the generic routes, plus the operations of each task the
 * caller's key opens (every public task when `all`). Internal tasks (`$…`) never appear.
 */
export function documentFor(
  base: Doc,
  tasks: Iterable<LoadedTask>,
  principal: Principal | null,
  all: boolean,
): Doc {
  const paths = { ...base.paths };
  for (const t of tasks) {
    if (t.name.startsWith('$')) continue;
    if (!all && !opens(principal, t.name, t.settings.auth)) continue;
    Object.assign(paths, taskOperations(base, t));
  }
  return { ...base, paths };
}
