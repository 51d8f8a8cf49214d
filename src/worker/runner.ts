import { context as otel } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { decideFailure, toAttemptError } from '../core/decide.ts';
import { isTaskbusError } from '../errors.ts';
import { endProcessSpan, startProcessSpan, traceIdOf } from '../observability/tracing.ts';
import { decodeBody } from '../storage/common.ts';
import type { ReceivedMessage, Settlement, StorageDriver } from '../storage/driver.ts';
import type { LoadedTask, TaskContext } from '../tasks/define.ts';
import type { Json } from '../types.ts';
import type { Settler } from './settler.ts';

/** Thrown by ctx.deadLetter to stop the handler and dead-letter the message. */
export class DeadLetterSignal extends Error {
  constructor(
    readonly reason: string,
    readonly description: string,
  ) {
    super(`dead-lettered by the handler: ${reason}`);
    this.name = 'DeadLetterSignal';
  }
}

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`the attempt exceeded timeoutMs (${ms} ms)`);
    this.name = 'TimeoutError';
  }
}

export class ShutdownError extends Error {
  constructor() {
    super('the worker shut down before the handler finished');
    this.name = 'ShutdownError';
  }
}

/** How far ahead, in handler time, a worker prefetches (see TaskRunner.prefetch). */
const PREFETCH_HORIZON_MS = 100;

export interface RunnerHooks {
  onStart?(m: ReceivedMessage, now: number): void;
  onSettled?(e: {
    name: string;
    id: string;
    kind: Settlement['kind'];
    durationMs: number;
    deliveryCount: number;
  }): void;
}

export interface RunnerDeps {
  driver: StorageDriver;
  settler: Settler;
  clock: Clock;
  random: () => number;
  workerId: string;
  log: Logger;
  enqueue: TaskContext['enqueue'];
  hooks: RunnerHooks;
}

/**
 * Runs one task's queue in this process: keeps up to `concurrency` handlers busy from a small
 * prefetch buffer filled by one receive at a time, renews locks while handlers run, enforces
 * the per-attempt timeout and settles through the shared Settler (batched).
 */
export class TaskRunner {
  private readonly running = new Map<string, { ac: LazyAbort; done: Promise<void> }>();
  private readonly buffer: ReceivedMessage[] = [];
  private receiving: Promise<ReceivedMessage[]> | null = null;
  private fetching = false;
  /** Set by a wake-up or a full receive: the queue may hold more than we took. */
  private maybeMore = true;
  private stopping = false;

  constructor(
    readonly task: LoadedTask,
    private readonly deps: RunnerDeps,
  ) {}

  get active(): number {
    return this.running.size;
  }

  /** Something may have become visible: receive if a slot is free. */
  wake(): void {
    this.maybeMore = true;
    void this.pump();
  }

  /**
   * Starts buffered messages in free slots, then receives when the buffer runs low: up to
   * `concurrency + prefetchCount` messages held at once (as Service Bus's PrefetchCount), so
   * one receive feeds many handler completions and the round trip hides behind running work.
   */
  private async pump(): Promise<void> {
    if (this.stopping) return;
    this.startFromBuffer();
    if (this.fetching || !this.maybeMore) return;
    const { concurrency } = this.task.settings;
    const prefetch = this.prefetch();
    const room = concurrency + prefetch - this.running.size - this.buffer.length;
    // Refill at a quarter full: each receive then takes at least three quarters of the room,
    // since a receive's fixed cost (one transaction) is worth many messages.
    if (room <= 0 || this.buffer.length > prefetch / 4) return;
    this.fetching = true;
    this.maybeMore = false;
    let got: ReceivedMessage[] = [];
    try {
      this.receiving = this.deps.driver.receive({
        name: this.task.name,
        limit: room,
        lockDurationMs: this.task.settings.lockDurationMs,
        workerId: this.deps.workerId,
        now: this.deps.clock.now(),
      });
      got = await this.receiving;
    } catch (err) {
      this.deps.log.error({ err, task: this.task.name }, 'receive failed; retrying on the next poll');
    } finally {
      this.fetching = false;
    }
    if (got.length === room) this.maybeMore = true;
    this.buffer.push(...got);
    if (this.stopping) return; // stop() releases the buffer once this receive is done
    this.startFromBuffer();
    if (this.maybeMore) setImmediate(() => void this.pump());
  }

  /** Moving average of handler durations (ms), or -1 before the first one finished. */
  private avgHandlerMs = -1;

  /**
   * How many messages to hold beyond the running ones: up to `prefetchCount`, but only as many
   * as `concurrency` handlers are expected to start within PREFETCH_HORIZON_MS (or a quarter of
   * the lock, if shorter) at their average duration. That is enough to hide a receive's round
   * trip, never leaves a prefetched message waiting out its lock, and leaves the rest of a
   * backlog to other workers: handlers of 100 ms at concurrency 10 prefetch 10, no-op handlers
   * the whole `prefetchCount`. Before the first handler finished the duration is unknown, and
   * nothing is prefetched.
   */
  private prefetch(): number {
    const { prefetchCount, concurrency, lockDurationMs } = this.task.settings;
    if (prefetchCount === 0 || this.avgHandlerMs < 0) return 0;
    const horizon = Math.min(PREFETCH_HORIZON_MS, lockDurationMs / 4);
    const fit = Math.floor((concurrency * horizon) / Math.max(this.avgHandlerMs, 0.01));
    return Math.min(prefetchCount, fit);
  }

  private observeDuration(ms: number): void {
    this.avgHandlerMs = this.avgHandlerMs < 0 ? ms : this.avgHandlerMs * 0.9 + ms * 0.1;
  }

  private startFromBuffer(): void {
    const now = this.deps.clock.now();
    while (this.running.size < this.task.settings.concurrency && this.buffer.length) {
      const m = this.buffer.shift()!;
      // A prefetched message whose lock ran out while it waited is the rescuer's now.
      if (m.lockedUntil > now) this.startExecution(m);
    }
  }

  /** Prefetched messages never started: visible again at once, nothing lost. */
  private releaseBuffer(): Promise<unknown> {
    const now = this.deps.clock.now();
    const error = { name: 'ShutdownError', message: 'prefetched, not started before the worker stopped' };
    const left = this.buffer.splice(0);
    return Promise.all(
      left.map((m) =>
        this.deps.settler.settle({
          kind: 'abandon',
          id: m.id,
          lockToken: m.lockToken,
          visibleAt: now,
          attempt: { startedAt: now, endedAt: now, worker: this.deps.workerId, error },
        }),
      ),
    );
  }

  private startExecution(m: ReceivedMessage): void {
    const ac = new LazyAbort();
    const done = this.execute(m, ac)
      // Only a settle that failed for good lands here (storage down for ~30 s): the message is
      // redelivered when its lock expires, so log it and keep the worker alive.
      .catch((err) =>
        this.deps.log.error(
          { err, task: m.name, messageId: m.id },
          'settle failed; the message will be redelivered',
        ),
      )
      .finally(() => this.release(m.id));
    this.running.set(m.id, { ac, done });
  }

  private pumpScheduled = false;

  /**
   * Frees a handler slot as soon as the handler finished (its settlement may still be in
   * flight: Settler.drain covers it at shutdown). Slots freed in one event-loop turn are
   * refilled by one receive, not one receive each.
   */
  private release(id: string): void {
    if (!this.running.delete(id) || this.stopping || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  private async execute(m: ReceivedMessage, ac: LazyAbort): Promise<void> {
    const { clock, settler, driver } = this.deps;
    const s = this.task.settings;
    const startedAt = clock.now();
    const ctx = new AttemptContext(m, ac, this.deps);
    let lockLost = false;
    let finished = false;
    // One timer per attempt, at whichever comes first: the timeout, or the lock renewal, due when
    // half of the remaining lock is left (one missed renewal still leaves slack). The first
    // renewal counts from the lock's own expiry, since a prefetched message waited.
    const deadline = startedAt + s.timeoutMs;
    let lockedUntil = m.lockedUntil;
    let timer: unknown;
    const arm = () => {
      const now = clock.now();
      const renewIn = Math.max(1, Math.floor((lockedUntil - now) / 2));
      timer = clock.setTimeout(onTimer, Math.max(0, Math.min(deadline - now, renewIn)));
    };
    const onTimer = async () => {
      if (finished || ac.aborted) return;
      if (clock.now() >= deadline) {
        ac.abort(new TimeoutError(s.timeoutMs));
        return;
      }
      try {
        ({ lockedUntil } = await driver.renewLock({
          id: m.id,
          lockToken: m.lockToken,
          lockDurationMs: s.lockDurationMs,
          now: clock.now(),
        }));
      } catch (err) {
        if (isTaskbusError(err, 'LOCK_LOST')) {
          lockLost = true;
          ac.abort(err);
          return;
        }
        ctx.logger().warn({ err }, 'lock renewal failed; retrying');
      }
      if (!finished && !ac.aborted) arm();
    };
    arm();
    this.deps.hooks.onStart?.(m, startedAt);

    let settlement: Settlement;
    let thrownError: unknown;
    // The handler runs in a span continued from the message's traceparent (a no-op without an
    // OpenTelemetry SDK), so its spans and follow-up enqueues join the request's trace.
    const trace = startProcessSpan(m);
    try {
      const result = await ac.race(
        Promise.resolve().then(() =>
          otel.with(trace.context, () => this.task.handler(decodeBody(m.body), ctx)),
        ),
      );
      const endedAt = clock.now();
      settlement = {
        kind: 'complete',
        id: m.id,
        lockToken: m.lockToken,
        result: toJson(result),
        attempt: { startedAt, endedAt, worker: this.deps.workerId, error: null },
      };
    } catch (thrown) {
      thrownError = thrown;
      const endedAt = clock.now();
      const error = toAttemptError(thrown);
      const attempt = { startedAt, endedAt, worker: this.deps.workerId, error };
      if (thrown instanceof ShutdownError) {
        // Shutdown is not the handler's failure: visible again at once, never dead-lettered here.
        settlement = { kind: 'abandon', id: m.id, lockToken: m.lockToken, visibleAt: endedAt, attempt };
      } else {
        const outcome = decideFailure({
          deliveryCount: m.deliveryCount,
          maxDeliveryCount: s.maxDeliveryCount,
          backoff: s.backoff,
          error,
          now: endedAt,
          random: this.deps.random,
          deadLetter:
            thrown instanceof DeadLetterSignal
              ? { reason: thrown.reason, description: thrown.description }
              : undefined,
        });
        settlement =
          outcome.kind === 'retry'
            ? { kind: 'abandon', id: m.id, lockToken: m.lockToken, visibleAt: outcome.visibleAt, attempt }
            : {
                kind: 'deadletter',
                id: m.id,
                lockToken: m.lockToken,
                reason: outcome.reason,
                description: outcome.description,
                attempt,
              };
        if (settlement.kind === 'deadletter') {
          if (this.deps.log.isLevelEnabled('warn')) {
            ctx.logger().warn({ reason: settlement.reason, err: error }, 'dead-lettered');
          }
        } else if (this.deps.log.isLevelEnabled('info')) {
          ctx
            .logger()
            .info(
              { err: error, retryAt: new Date(settlement.visibleAt).toISOString() },
              'attempt failed; will retry',
            );
        }
      }
    } finally {
      finished = true;
      clock.clearTimeout(timer);
    }
    endProcessSpan(trace.span, {
      kind: settlement.kind,
      reason: settlement.kind === 'deadletter' ? settlement.reason : undefined,
      error: thrownError,
    });
    this.observeDuration(settlement.attempt.endedAt - startedAt);
    if (!this.stopping) this.release(m.id);
    if (lockLost) {
      // Another worker may hold the message now; the rescuer records this delivery.
      ctx.logger().warn('lock lost while the handler ran; not settling');
      return;
    }
    const outcome = await settler.settle(settlement);
    // An immediate retry (backoff 'none', shutdown) is visible now: look again without a poll.
    if (settlement.kind === 'abandon' && settlement.visibleAt <= clock.now()) this.maybeMore = true;
    if (outcome === 'lockLost')
      ctx.logger().warn('lock lost before settling; the message will be redelivered');
    this.deps.hooks.onSettled?.({
      name: m.name,
      id: m.id,
      kind: settlement.kind,
      durationMs: settlement.attempt.endedAt - startedAt,
      deliveryCount: m.deliveryCount,
    });
  }

  /** Stops receiving; waits up to `graceMs` for running handlers, then aborts the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.receiving?.catch(() => {});
    await this.releaseBuffer();
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), graceMs);
    });
    const first = await Promise.race([all().then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'timeout') {
      for (const r of this.running.values()) r.ac.abort(new ShutdownError());
      await all();
    }
  }
}

const deadLetter = (reason: string, description = ''): never => {
  throw new DeadLetterSignal(String(reason), String(description));
};

/**
 * A handler's `ctx`. The fields a handler always has are plain; the rest (the Date, the signal,
 * the logger, the progress function) are made when first read, since most deliveries of a
 * healthy task read none of them. Each is a getter, so destructuring `{ log, progress }` works.
 */
class AttemptContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly deliveryCount: number;
  // Private fields (#): the driver and the lock token stay out of the handler's reach.
  readonly #m: ReceivedMessage;
  readonly #ac: LazyAbort;
  readonly #deps: RunnerDeps;
  #date: Date | null = null;
  #child: Logger | null = null;
  #facade: TaskContext['log'] | null = null;

  constructor(m: ReceivedMessage, ac: LazyAbort, deps: RunnerDeps) {
    this.id = m.id;
    this.name = m.name;
    this.deliveryCount = m.deliveryCount;
    this.#m = m;
    this.#ac = ac;
    this.#deps = deps;
  }

  get enqueuedAt(): Date {
    this.#date ??= new Date(this.#m.enqueuedAt);
    return this.#date;
  }

  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** The message's pino logger (task, message id, delivery count, trace id), for the runner. */
  logger(): Logger {
    const m = this.#m;
    this.#child ??= this.#deps.log.child(
      m.traceparent
        ? { task: m.name, messageId: m.id, deliveryCount: m.deliveryCount, traceId: traceIdOf(m.traceparent) }
        : { task: m.name, messageId: m.id, deliveryCount: m.deliveryCount },
    );
    return this.#child;
  }

  get log(): TaskContext['log'] {
    this.#facade ??= {
      debug: (msg, f) => this.logger().debug(f ?? {}, msg),
      info: (msg, f) => this.logger().info(f ?? {}, msg),
      warn: (msg, f) => this.logger().warn(f ?? {}, msg),
      error: (msg, f) => this.logger().error(f ?? {}, msg),
    };
    return this.#facade;
  }

  get progress(): TaskContext['progress'] {
    const m = this.#m;
    const deps = this.#deps;
    return (value: Json) =>
      deps.driver.setProgress({ id: m.id, lockToken: m.lockToken, progress: value, now: deps.clock.now() });
  }

  get deadLetter(): TaskContext['deadLetter'] {
    return deadLetter;
  }

  get enqueue(): TaskContext['enqueue'] {
    return this.#deps.enqueue;
  }
}

/**
 * An attempt's abort: `signal` is a real AbortSignal, made only when the handler reads
 * `ctx.signal` (most never do, and an AbortController with its listeners cost a tenth of a
 * no-op delivery). `abort` rejects the attempt's race at once either way.
 */
class LazyAbort {
  aborted = false;
  private reason: unknown;
  private controller: AbortController | null = null;
  private rejectRace: ((reason: unknown) => void) | null = null;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }

  /** Settles with the handler, or rejects with the reason as soon as the attempt is aborted. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      p.then(resolve, reject);
    });
  }
}

function toJson(result: unknown): Json {
  if (result === undefined) return null;
  if (Buffer.isBuffer(result)) return { type: 'Buffer', base64: result.toString('base64') };
  return JSON.parse(JSON.stringify(result)) as Json;
}
