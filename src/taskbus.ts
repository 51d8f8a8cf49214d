import { EventEmitter } from 'node:events';
import pino, { type Logger } from 'pino';
import { type Clock, systemClock } from './clock.ts';
import { DEFAULT_SETTINGS, TASK_NAME_PATTERN } from './core/settings.ts';
import { TaskbusError } from './errors.ts';
import { newId } from './id.ts';
import { endEnqueueSpan, startEnqueueSpan } from './observability/tracing.ts';
import { jsonBody } from './storage/common.ts';
import type { NewMessage, StorageDriver } from './storage/driver.ts';
import { type OpenOptions, openDriver } from './storage/open.ts';
import type { EnqueueOptions, LoadedTask, TaskExport } from './tasks/define.ts';
import { loadTaskDir, tasksFromObject } from './tasks/load.ts';
import type { MessageRecord, MessageState, QueueCounts, StoredBody } from './types.ts';
import type { RunnerHooks } from './worker/runner.ts';
import { Worker, type WorkerOptions } from './worker/worker.ts';

const MAX_DELAY_MS = 366 * 86_400_000;

export interface TaskbusOptions extends OpenOptions {
  /** A tasks folder, tasks given in code (`{ name: handler | definition }`), or loaded tasks. */
  tasks: string | Record<string, TaskExport> | LoadedTask[];
  /** Database URL (SPEC §4). Default './taskbus.db'. Ignored when `driver` is given. */
  db?: string;
  /** An already opened driver. */
  driver?: StorageDriver;
  clock?: Clock;
  /** Randomness for backoff jitter (0 ≤ r < 1). */
  random?: () => number;
  logger?: Logger;
  /** Completed messages are kept this long (default 7 days). */
  completedRetentionMs?: number;
  /**
   * Accept enqueues and admin calls for task names this process has no file for (a producer
   * or the CLI); their settings are the defaults. Workers still run only loaded tasks.
   */
  acceptUnknownTasks?: boolean;
  /** Worker tuning: see WorkerOptions. */
  worker?: Pick<WorkerOptions, 'pollIntervalMs' | 'rescueIntervalMs' | 'maintenanceIntervalMs' | 'workerId'>;
}

export interface EnqueueResultInfo {
  id: string;
  name: string;
  /** False when an idempotency key matched an earlier task: `id` is that task's. */
  created: boolean;
}

/** Events for metrics and observers. */
export interface TaskbusEvents {
  enqueued: [{ name: string; count: number }];
  started: [{ name: string; id: string; deliveryCount: number; enqueuedAt: number; now: number }];
  settled: [{ name: string; id: string; kind: 'complete' | 'abandon' | 'deadletter'; durationMs: number }];
  /** Dead-lettered messages of task `name` moved back to a queue (progress of long moves, metrics). */
  resubmitted: [{ name: string; count: number }];
  /** Dead-lettered messages of task `name` deleted. */
  purged: [{ name: string; count: number }];
}

/**
 * The programmatic surface the HTTP layer, the CLI and users share: enqueue, inspect, manage
 * dead letters, and run workers.
 */
export class Taskbus extends EventEmitter<TaskbusEvents> {
  readonly tasks: ReadonlyMap<string, LoadedTask>;
  private readonly taskMap: Map<string, LoadedTask>;
  readonly driver: StorageDriver;
  readonly clock: Clock;
  readonly log: Logger;
  private worker: Worker | null = null;
  private readonly options: TaskbusOptions;

  constructor(driver: StorageDriver, tasks: LoadedTask[], options: TaskbusOptions) {
    super();
    this.driver = driver;
    this.taskMap = new Map(tasks.map((t) => [t.name, t]));
    this.tasks = this.taskMap;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? pino({ level: process.env.TASKBUS_LOG_LEVEL ?? 'info' });
    this.options = options;
  }

  /**
   * Adds an internal task (name starting with `$`, e.g. dead-letter rule actions) before the
   * workers start. Internal tasks have no HTTP endpoint.
   */
  addInternalTask(task: LoadedTask): void {
    if (!task.name.startsWith('$'))
      throw new TaskbusError('INVALID_TASK', `internal task names start with $: '${task.name}'`);
    if (this.worker) throw new TaskbusError('INVALID_STATE', 'add internal tasks before the workers start');
    this.taskMap.set(task.name, task);
  }

  /** The task, or a TASK_NOT_FOUND error. Internal tasks (`$…`) are reachable too. */
  task(name: string): LoadedTask {
    const t = this.tasks.get(name);
    if (t) return t;
    if (this.options.acceptUnknownTasks && TASK_NAME_PATTERN.test(name)) {
      return { name, handler: () => undefined, settings: DEFAULT_SETTINGS, description: null, file: null };
    }
    throw new TaskbusError('TASK_NOT_FOUND', `no task named '${name}'`);
  }

  /** Enqueues one task. Resolves once the message is committed to storage. */
  async enqueue(name: string, body?: unknown, options: EnqueueOptions = {}): Promise<EnqueueResultInfo> {
    const [r] = await this.enqueueMany(name, [body], options);
    return r;
  }

  /**
   * Enqueues many tasks of one name, all or nothing, in one transaction. An idempotency key in
   * `options` applies to a single body only.
   */
  async enqueueMany(
    name: string,
    bodies: unknown[],
    options: EnqueueOptions = {},
  ): Promise<EnqueueResultInfo[]> {
    const task = this.task(name);
    if (options.idempotencyKey !== undefined && bodies.length !== 1) {
      throw new TaskbusError('BAD_REQUEST', 'an idempotency key applies to one task at a time');
    }
    const now = this.clock.now();
    const visibleAt = resolveVisibleAt(options, now);
    const ttlMs = options.ttlMs ?? task.settings.ttlMs;
    const trace = startEnqueueSpan(name, bodies.length, options.traceparent);
    const messages: NewMessage[] = bodies.map((body) => ({
      id: newId(now),
      name,
      body: toStoredBody(body, options.contentType),
      visibleAt,
      expiresAt: ttlMs ? now + ttlMs : null,
      idempotencyKey: options.idempotencyKey ?? null,
      traceparent: trace.traceparent,
    }));
    let results: Awaited<ReturnType<StorageDriver['enqueue']>>;
    try {
      results = await this.driver.enqueue({ messages, now, transaction: options.transaction });
    } catch (err) {
      endEnqueueSpan(trace.span, null, err);
      throw err;
    }
    endEnqueueSpan(trace.span, results);
    const created = results.filter((r) => r.created).length;
    if (created) {
      this.emit('enqueued', { name, count: created });
      if (visibleAt <= now) this.worker?.wake([name]);
    }
    return results.map((r) => ({ id: r.id, name, created: r.created }));
  }

  /** One task's message with attempts and history, or null. */
  getTask(id: string): Promise<MessageRecord | null> {
    return this.driver.getMessage({ id, now: this.clock.now() });
  }

  browse(name: string, state: MessageState, opts: { limit?: number; cursor?: string | null } = {}) {
    return this.driver.browse({
      name,
      state,
      limit: opts.limit ?? 50,
      cursor: opts.cursor,
      now: this.clock.now(),
    });
  }

  counts(names?: string[]): Promise<QueueCounts[]> {
    return this.driver.counts({ now: this.clock.now(), names });
  }

  async resubmit(
    name: string,
    sel: { ids?: string[]; all?: boolean; body?: unknown; toName?: string; event?: Record<string, unknown> },
  ) {
    if (sel.toName !== undefined) this.task(sel.toName);
    const r = await this.driver.resubmit({
      name,
      ids: sel.ids,
      all: sel.all,
      body: sel.body === undefined ? undefined : toStoredBody(sel.body),
      toName: sel.toName,
      event: sel.event,
      now: this.clock.now(),
    });
    if (r.resubmitted.length) {
      this.worker?.wake([sel.toName ?? name]);
      this.emit('resubmitted', { name, count: r.resubmitted.length });
    }
    return r;
  }

  async purge(name: string, ids?: string[]) {
    const r = await this.driver.purge({ name, ids, now: this.clock.now() });
    if (r.purged) this.emit('purged', { name, count: r.purged });
    return r;
  }

  cancel(id: string) {
    return this.driver.cancel({ id, now: this.clock.now() });
  }

  /** Starts the workers (queue triggers) for every task in this process. */
  async startWorkers(hooks: RunnerHooks = {}): Promise<Worker> {
    if (this.worker) return this.worker;
    this.worker = new Worker({
      driver: this.driver,
      tasks: [...this.tasks.values()],
      clock: this.clock,
      random: this.options.random ?? Math.random,
      log: this.log,
      enqueue: (name, body, opts) => this.enqueue(name, body, opts),
      completedRetentionMs: this.options.completedRetentionMs,
      ...this.options.worker,
      hooks: {
        onStart: (m, now) => {
          hooks.onStart?.(m, now);
          // The event object is made only for a listener (metrics): not for every delivery.
          if (this.listenerCount('started') === 0) return;
          this.emit('started', {
            name: m.name,
            id: m.id,
            deliveryCount: m.deliveryCount,
            enqueuedAt: m.enqueuedAt,
            now,
          });
        },
        onSettled: (e) => {
          hooks.onSettled?.(e);
          this.emit('settled', e);
        },
      },
    });
    await this.worker.start();
    return this.worker;
  }

  /**
   * Wakes this process's runners of these task names at once instead of at the next poll
   * (for messages a driver enqueued itself, such as `$deadletter` events).
   */
  wake(names?: string[]): void {
    this.worker?.wake(names);
  }

  /** Stops the workers gracefully (see Worker.stop). */
  async stopWorkers(graceMs?: number): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.stop(graceMs);
  }

  /** Stops workers and closes storage. */
  async close(graceMs?: number): Promise<void> {
    await this.stopWorkers(graceMs);
    await this.driver.close();
  }
}

function resolveVisibleAt(o: EnqueueOptions, now: number): number {
  if (o.delayMs !== undefined && o.scheduledFor !== undefined) {
    throw new TaskbusError('BAD_REQUEST', 'give delayMs or scheduledFor, not both');
  }
  let at = now;
  if (o.delayMs !== undefined) {
    if (!Number.isFinite(o.delayMs) || o.delayMs < 0)
      throw new TaskbusError('BAD_REQUEST', 'delayMs must be ≥ 0');
    at = now + o.delayMs;
  } else if (o.scheduledFor !== undefined) {
    const t = o.scheduledFor instanceof Date ? o.scheduledFor.getTime() : new Date(o.scheduledFor).getTime();
    if (Number.isNaN(t)) throw new TaskbusError('BAD_REQUEST', 'scheduledFor is not a valid time');
    at = Math.max(now, t);
  }
  if (at - now > MAX_DELAY_MS)
    throw new TaskbusError('BAD_REQUEST', 'a task cannot be scheduled more than 366 days ahead');
  return at;
}

export function toStoredBody(body: unknown, contentType?: string): StoredBody {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    return {
      kind: 'bytes',
      bytes: Buffer.from(body),
      contentType: contentType ?? 'application/octet-stream',
    };
  }
  return jsonBody(body);
}

/** Opens storage, applies migrations, loads the tasks. */
export async function createTaskbus(options: TaskbusOptions): Promise<Taskbus> {
  const tasks =
    typeof options.tasks === 'string'
      ? await loadTaskDir(options.tasks)
      : Array.isArray(options.tasks)
        ? options.tasks
        : tasksFromObject(options.tasks);
  const driver = options.driver ?? (await openDriver(options.db ?? './taskbus.db', options));
  try {
    await driver.migrate();
  } catch (err) {
    await driver.close().catch(() => {});
    throw err;
  }
  return new Taskbus(driver, tasks, options);
}
