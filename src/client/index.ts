/**
 * The typed Taskbus client for Node (18+) and browsers: `fetch` only, no Node APIs.
 *
 * ```ts
 * import { createClient } from 'taskbus/client';
 * import type { Tasks } from './taskbus-tasks.ts'; // written by `npx taskbus types`
 *
 * const taskbus = createClient<Tasks>({ url: 'https://tasks.example.com', key: process.env.TASKBUS_KEY });
 * const task = await taskbus.enqueue('resize-image', { url, width: 800 }); // body checked by type
 * const done = await taskbus.waitFor(task);                                // result typed too
 * ```
 *
 * The status route is `/api/{name}/tasks/{id}`, so reading a task needs its name: `enqueue`
 * returns a handle with the name (pass it to `get`/`waitFor`); `get(id, name)` takes it
 * explicitly; `get(id)` alone works for ids this client enqueued, or with the master key
 * (through `/admin/messages/{id}`).
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The task body of a task export (a bare handler or a `{ handler, … }` definition). */
export type BodyOf<T> = T extends { handler: (body: infer B, ...rest: any[]) => any }
  ? B
  : T extends (body: infer B, ...rest: any[]) => any
    ? B
    : unknown;

/** What a task's handler resolves to. */
export type ResultOf<T> = T extends { handler: (...args: any[]) => infer R }
  ? Awaited<R>
  : T extends (...args: any[]) => infer R
    ? Awaited<R>
    : unknown;

/**
 * Task name → the type of the task file's default export (what `taskbus types` writes as
 * `Tasks`). Untyped by default: any name, any body.
 */
export type TaskTypes = object;

export type TaskState = 'scheduled' | 'queued' | 'running' | 'completed' | 'deadlettered';

export interface ClientOptions {
  /** Where Taskbus listens, e.g. `http://127.0.0.1:7071`. */
  url: string;
  /** A function, host or master key, sent as `x-functions-key`. */
  key?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface EnqueueOptions {
  /** A repeat with the same key within 24 h returns the first task (`created: false`). */
  idempotencyKey?: string;
  /** Deliver after this many milliseconds. */
  delayMs?: number;
  /** Deliver at this time; a past time means now. */
  scheduledFor?: Date | string;
  /** Dead-letter as TTLExpiredException if not delivered within this many ms. */
  ttlMs?: number;
  /** W3C trace context: the handler continues this trace. */
  traceparent?: string;
  /** Content type of a bytes body (Uint8Array, ArrayBuffer, Blob); default application/octet-stream. */
  contentType?: string;
  signal?: AbortSignal;
}

/** What `enqueue` answers: the task's id, name and status URL. Pass it to `get` or `waitFor`. */
export interface TaskHandle<Name extends string = string> {
  id: string;
  name: Name;
  status: TaskState;
  statusUrl: string;
  /** False when an idempotency key matched an earlier task (HTTP 200): `id` is that task's. */
  created: boolean;
}

export interface TaskAttempt {
  number: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  worker: string | null;
  error: { name: string; message: string; stack: string | null } | null;
}

/** The status document of a task (GET /api/{name}/tasks/{id}). */
export interface TaskStatus<Result = unknown, Name extends string = string> {
  id: string;
  name: Name;
  status: TaskState;
  body: unknown;
  result: Result | null;
  progress: Json | null;
  deliveryCount: number;
  enqueuedAt: string;
  scheduledFor: string;
  nextAttemptAt: string | null;
  expiresAt: string | null;
  completedAt: string | null;
  deadLetterReason: string | null;
  deadLetterErrorDescription: string | null;
  deadLetteredAt: string | null;
  attempts: TaskAttempt[];
  history: Record<string, unknown>[];
}

export interface WaitOptions {
  /** Give up after this long (default 60 s): rejects with a TaskbusClientError 'TIMEOUT'. */
  timeoutMs?: number;
  /** First poll interval (default 100 ms), doubling up to `maxIntervalMs` (default 2 s). */
  intervalMs?: number;
  maxIntervalMs?: number;
  /** Also resolve on these states (default: completed and deadlettered). */
  until?: TaskState[];
  signal?: AbortSignal;
}

/** An error answer (RFC 9457 problem+json) or a transport failure. */
export class TaskbusClientError extends Error {
  /** HTTP status, or 0 when no answer arrived. */
  readonly status: number;
  /** The registry code (e.g. 'RATE_LIMITED', 'SCHEMA_VALIDATION'), 'TIMEOUT' or 'NETWORK'. */
  readonly code: string;
  /** The problem document as sent. */
  readonly problem: Record<string, unknown> | null;
  /** From Retry-After on 429 and 503, in milliseconds. */
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    o: {
      status: number;
      code: string;
      problem?: Record<string, unknown> | null;
      retryAfterMs?: number | null;
    },
  ) {
    super(message);
    this.name = 'TaskbusClientError';
    this.status = o.status;
    this.code = o.code;
    this.problem = o.problem ?? null;
    this.retryAfterMs = o.retryAfterMs ?? null;
  }
}

type Args<B> = undefined extends B
  ? [body?: B, options?: EnqueueOptions]
  : [body: B, options?: EnqueueOptions];
type Ref<Tasks extends TaskTypes> = string | { id: string; name: keyof Tasks & string };
type NameOf<Tasks extends TaskTypes, R> = R extends { name: infer N } ? N & keyof Tasks : keyof Tasks;

export interface TaskbusClient<Tasks extends TaskTypes = Record<string, any>> {
  /** Enqueues a task; resolves once it is stored (202), or with the first task of an idempotency key (200). */
  enqueue<N extends keyof Tasks & string>(name: N, ...args: Args<BodyOf<Tasks[N]>>): Promise<TaskHandle<N>>;
  /**
   * A task's status. Give the handle `enqueue` returned, or an id and its task name; an id alone
   * works for tasks this client enqueued, or with the master key.
   */
  get<R extends Ref<Tasks>, N extends keyof Tasks & string = NameOf<Tasks, R> & string>(
    task: R,
    name?: N,
  ): Promise<TaskStatus<ResultOf<Tasks[N]>, N>>;
  /** Polls until the task is completed or dead-lettered (see WaitOptions), then answers its status. */
  waitFor<R extends Ref<Tasks>, N extends keyof Tasks & string = NameOf<Tasks, R> & string>(
    task: R,
    options?: WaitOptions & { name?: N },
  ): Promise<TaskStatus<ResultOf<Tasks[N]>, N>>;
}

/** Names of tasks this client enqueued, by id, for `get(id)`: bounded, oldest forgotten first. */
const REMEMBERED = 10_000;

const isBytes = (b: unknown): b is Uint8Array | ArrayBuffer | Blob =>
  b instanceof Uint8Array || b instanceof ArrayBuffer || (typeof Blob !== 'undefined' && b instanceof Blob);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Creates a client. `Tasks` maps task names to their exports: see `taskbus types`. */
export function createClient<Tasks extends TaskTypes = Record<string, any>>(
  o: ClientOptions,
): TaskbusClient<Tasks> {
  const base = o.url.replace(/\/+$/, '');
  const doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  const names = new Map<string, string>();

  async function call(path: string, init: RequestInit & { headers?: Record<string, string> }) {
    let res: Response;
    try {
      res = await doFetch(base + path, {
        ...init,
        headers: {
          accept: 'application/json',
          ...o.headers,
          ...(o.key ? { 'x-functions-key': o.key } : {}),
          ...init.headers,
        },
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new TaskbusClientError(`cannot reach Taskbus at ${base}: ${(err as Error).message}`, {
        status: 0,
        code: 'NETWORK',
      });
    }
    const text = await res.text();
    let doc: Record<string, unknown> | null = null;
    try {
      doc = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      doc = null;
    }
    if (!res.ok) {
      const after = res.headers.get('retry-after');
      throw new TaskbusClientError(String(doc?.detail ?? doc?.title ?? `HTTP ${res.status}`), {
        status: res.status,
        code: String(doc?.code ?? `HTTP_${res.status}`),
        problem: doc,
        retryAfterMs: after !== null && /^\d+$/.test(after) ? Number(after) * 1000 : null,
      });
    }
    return { status: res.status, doc: doc as any };
  }

  function remember(id: string, name: string): void {
    if (names.size >= REMEMBERED) names.delete(names.keys().next().value as string);
    names.set(id, name);
  }

  async function get(task: Ref<Tasks>, name?: string, signal?: AbortSignal): Promise<any> {
    const id = typeof task === 'string' ? task : task.id;
    const n = name ?? (typeof task === 'string' ? names.get(id) : task.name);
    const path =
      n === undefined
        ? `/admin/messages/${encodeURIComponent(id)}`
        : `/api/${encodeURIComponent(n)}/tasks/${encodeURIComponent(id)}`;
    return (await call(path, { method: 'GET', signal })).doc;
  }

  return {
    async enqueue(name: string, body?: unknown, options: EnqueueOptions = {}) {
      const headers: Record<string, string> = {};
      if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
      if (options.delayMs !== undefined) headers['taskbus-delay-ms'] = String(Math.round(options.delayMs));
      if (options.scheduledFor !== undefined)
        headers['taskbus-scheduled-for'] =
          options.scheduledFor instanceof Date ? options.scheduledFor.toISOString() : options.scheduledFor;
      if (options.ttlMs !== undefined) headers['taskbus-ttl-ms'] = String(Math.round(options.ttlMs));
      if (options.traceparent !== undefined) headers.traceparent = options.traceparent;
      let payload: BodyInit | undefined;
      if (isBytes(body)) {
        headers['content-type'] = options.contentType ?? 'application/octet-stream';
        payload = body as BodyInit;
      } else if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      const r = await call(`/api/${encodeURIComponent(name)}`, {
        method: 'POST',
        headers,
        body: payload,
        signal: options.signal,
      });
      remember(r.doc.id, name);
      return { ...r.doc, created: r.status === 202 };
    },

    get: (task, name) => get(task, name),

    async waitFor(task, options = {}) {
      const until = options.until ?? ['completed', 'deadlettered'];
      const deadline = Date.now() + (options.timeoutMs ?? 60_000);
      let interval = options.intervalMs ?? 100;
      const max = Math.max(interval, options.maxIntervalMs ?? 2000);
      for (;;) {
        const doc = await get(task, options.name, options.signal);
        if (until.includes(doc.status)) return doc;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new TaskbusClientError(`task ${doc.id} is still ${doc.status}`, {
            status: 0,
            code: 'TIMEOUT',
          });
        await sleep(Math.min(interval, left), options.signal);
        interval = Math.min(max, interval * 2);
      }
    },
  } as TaskbusClient<Tasks>;
}
