import { context as otel } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { decideFailure, toAttemptError } from '../core/decide.ts';
import { isTaskbusError } from '../errors.ts';
import { endProcessSpan, startProcessSpan, traceIdOf } from '../observability/tracing.ts';
import { decodeBody } from '../storage/common.ts';
import type { ReceivedMessage, Settlement, SettleOutcome, StorageDriver } from '../storage/driver.ts';
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
  /** Attempts whose handler runs (by attempt, not id: a message redelivered here while an attempt
   * whose lock expired still runs is two attempts). */
  private readonly running = new Set<Attempt>();
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
    const a = new Attempt(m, this.deps.clock.now(), this.task.settings.timeoutMs, this.deps, this.events);
    this.running.add(a);
    this.arm(a);
    this.deps.hooks.onStart?.(m, a.startedAt);
    let result: unknown;
    try {
      // The handler runs in a span continued from the message's traceparent (a no-op without an
      // OpenTelemetry SDK), so its spans and follow-up enqueues join the request's trace.
      result = otel.with(a.trace.context, this.task.handler, undefined, decodeBody(m.body), a.ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    // Ends in a later microtask even when the handler returned at once, as an async one does.
    Promise.resolve(result).then(
      (value) => a.end(false, value),
      (err) => a.end(true, err),
    );
  }

  private pumpScheduled = false;

  /**
   * Frees a handler slot as soon as the handler finished (its settlement may still be in
   * flight: Settler.drain covers it at shutdown). Slots freed in one event-loop turn are
   * refilled by one receive, not one receive each.
   */
  private release(a: Attempt): void {
    if (!this.running.delete(a) || this.stopping || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  /**
   * One timer per attempt, at whichever comes first: the timeout, or the lock renewal, due when
   * half of the remaining lock is left (one missed renewal still leaves slack). The first
   * renewal counts from the lock's own expiry, since a prefetched message waited.
   */
  private arm(a: Attempt): void {
    const now = this.deps.clock.now();
    const renewIn = Math.max(1, Math.floor((a.lockedUntil - now) / 2));
    a.timer = this.deps.clock.setTimeout(a.onTimer, Math.max(0, Math.min(a.deadline - now, renewIn)));
  }

  /** The attempt's timer: time out, or renew the lock and arm again. */
  private async renew(a: Attempt): Promise<void> {
    const { clock, driver } = this.deps;
    const s = this.task.settings;
    if (a.finished || a.aborted) return;
    if (clock.now() >= a.deadline) {
      a.abort(new TimeoutError(s.timeoutMs));
      return;
    }
    try {
      ({ lockedUntil: a.lockedUntil } = await driver.renewLock({
        id: a.m.id,
        lockToken: a.m.lockToken,
        lockDurationMs: s.lockDurationMs,
        now: clock.now(),
      }));
    } catch (err) {
      if (isTaskbusError(err, 'LOCK_LOST')) {
        a.lockLost = true;
        a.abort(err);
        return;
      }
      a.ctx.logger().warn({ err }, 'lock renewal failed; retrying');
    }
    if (!a.finished && !a.aborted) this.arm(a);
  }

  private readonly events: AttemptEvents = {
    ended: (a, failed, value) => this.ended(a, failed, value),
    timer: (a) => void this.renew(a),
  };

  /**
   * The end of an attempt, once: the handler returned (`value` its result) or threw (`value`
   * what it threw), or the attempt was aborted (timeout, lost lock, shutdown) while it ran.
   * Settles it, unless the lock was lost.
   */
  private ended(a: Attempt, failed: boolean, value: unknown): void {
    const { clock, log } = this.deps;
    const m = a.m;
    let settlement: Settlement;
    try {
      settlement = this.settlementOf(a, failed, value, clock.now());
      endProcessSpan(a.trace.span, {
        kind: settlement.kind,
        reason: settlement.kind === 'deadletter' ? settlement.reason : undefined,
        error: failed ? value : undefined,
      });
    } catch (err) {
      log.error({ err, task: m.name, messageId: m.id }, 'could not settle; the message will be redelivered');
      this.finish(a);
      return;
    }
    this.observeDuration(settlement.attempt.endedAt - a.startedAt);
    if (!this.stopping) this.release(a);
    if (a.lockLost) {
      // Another worker may hold the message now; the rescuer records this delivery.
      a.ctx.logger().warn('lock lost while the handler ran; not settling');
      this.finish(a);
      return;
    }
    this.deps.settler.settleThen(
      settlement,
      (outcome) => {
        try {
          this.settled(a, settlement, outcome);
        } catch (err) {
          log.error({ err, task: m.name, messageId: m.id }, 'a listener of the settlement failed');
        }
        this.finish(a);
      },
      // Only a settle that failed for good lands here (storage down for ~30 s): the message is
      // redelivered when its lock expires, so log it and keep the worker alive.
      (err) => {
        log.error({ err, task: m.name, messageId: m.id }, 'settle failed; the message will be redelivered');
        this.finish(a);
      },
    );
  }

  /** What the attempt's end means for the message: complete, retry later or dead-letter. */
  private settlementOf(a: Attempt, failed: boolean, value: unknown, endedAt: number): Settlement {
    const m = a.m;
    const worker = this.deps.workerId;
    if (!failed) {
      return {
        kind: 'complete',
        id: m.id,
        lockToken: m.lockToken,
        result: toJson(value),
        attempt: { startedAt: a.startedAt, endedAt, worker, error: null },
      };
    }
    const thrown = value;
    const error = toAttemptError(thrown);
    const attempt = { startedAt: a.startedAt, endedAt, worker, error };
    if (thrown instanceof ShutdownError) {
      // Shutdown is not the handler's failure: visible again at once, never dead-lettered here.
      return { kind: 'abandon', id: m.id, lockToken: m.lockToken, visibleAt: endedAt, attempt };
    }
    const outcome = decideFailure({
      deliveryCount: m.deliveryCount,
      maxDeliveryCount: this.task.settings.maxDeliveryCount,
      backoff: this.task.settings.backoff,
      error,
      now: endedAt,
      random: this.deps.random,
      deadLetter:
        thrown instanceof DeadLetterSignal
          ? { reason: thrown.reason, description: thrown.description }
          : undefined,
    });
    if (outcome.kind === 'retry') {
      if (this.deps.log.isLevelEnabled('info')) {
        a.ctx
          .logger()
          .info(
            { err: error, retryAt: new Date(outcome.visibleAt).toISOString() },
            'attempt failed; will retry',
          );
      }
      return { kind: 'abandon', id: m.id, lockToken: m.lockToken, visibleAt: outcome.visibleAt, attempt };
    }
    if (this.deps.log.isLevelEnabled('warn')) {
      a.ctx.logger().warn({ reason: outcome.reason, err: error }, 'dead-lettered');
    }
    return {
      kind: 'deadletter',
      id: m.id,
      lockToken: m.lockToken,
      reason: outcome.reason,
      description: outcome.description,
      attempt,
    };
  }

  /** After the settlement committed (or was refused for a lost lock). */
  private settled(a: Attempt, settlement: Settlement, outcome: SettleOutcome): void {
    const m = a.m;
    // An immediate retry (backoff 'none', shutdown) is visible now: look again without a poll.
    if (settlement.kind === 'abandon' && settlement.visibleAt <= this.deps.clock.now()) this.maybeMore = true;
    if (outcome === 'lockLost')
      a.ctx.logger().warn('lock lost before settling; the message will be redelivered');
    this.deps.hooks.onSettled?.({
      name: m.name,
      id: m.id,
      kind: settlement.kind,
      durationMs: settlement.attempt.endedAt - a.startedAt,
      deliveryCount: m.deliveryCount,
    });
  }

  /** The attempt is over, settled or not: its slot is free (at shutdown only now) and stop() may go on. */
  private finish(a: Attempt): void {
    a.over();
    this.release(a);
  }

  /** Stops receiving; waits up to `graceMs` for running handlers, then aborts the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.receiving?.catch(() => {});
    await this.releaseBuffer();
    const all = () => Promise.all([...this.running.values()].map((a) => a.done()));
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), graceMs);
    });
    const first = await Promise.race([all().then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'timeout') {
      for (const a of this.running.values()) a.abort(new ShutdownError());
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
  readonly #ac: { readonly signal: AbortSignal };
  readonly #deps: RunnerDeps;
  #date: Date | null = null;
  #child: Logger | null = null;
  #facade: TaskContext['log'] | null = null;

  constructor(m: ReceivedMessage, ac: { readonly signal: AbortSignal }, deps: RunnerDeps) {
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

/** What the runner does for every attempt: one object per runner, shared by its attempts. */
interface AttemptEvents {
  ended(a: Attempt, failed: boolean, value: unknown): void;
  timer(a: Attempt): void;
}

/**
 * One attempt in progress: its lock, timer, abort and span, kept as fields of one object rather
 * than in closures and promises made per delivery (collecting that garbage was the largest part
 * of a busy worker's CPU). `signal` is a real AbortSignal, made only when the handler reads
 * `ctx.signal` (most never do, and an AbortController with its listeners cost a tenth of a no-op
 * delivery). The attempt ends once: when the handler settles, or at once when it is aborted.
 */
class Attempt {
  readonly startedAt: number;
  readonly deadline: number;
  lockedUntil: number;
  timer: unknown = undefined;
  aborted = false;
  finished = false;
  lockLost = false;
  readonly ctx: AttemptContext;
  readonly trace: ReturnType<typeof startProcessSpan>;
  /** The timer's callback, made once: the runner renews the lock or times the attempt out. */
  readonly onTimer: () => void;
  private reason: unknown;
  private controller: AbortController | null = null;
  private isOver = false;
  private whenOver: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    readonly m: ReceivedMessage,
    startedAt: number,
    timeoutMs: number,
    private readonly deps: RunnerDeps,
    private readonly events: AttemptEvents,
  ) {
    this.onTimer = () => events.timer(this);
    this.startedAt = startedAt;
    this.deadline = startedAt + timeoutMs;
    this.lockedUntil = m.lockedUntil;
    this.ctx = new AttemptContext(m, this, deps);
    this.trace = startProcessSpan(m);
  }

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
    this.end(true, reason);
  }

  /** The handler's outcome (its result, or what it threw), or the abort's; the first one counts. */
  end(failed: boolean, value: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.deps.clock.clearTimeout(this.timer);
    // Held until the settlement commits: keep no more than that needs.
    this.timer = undefined;
    this.events.ended(this, failed, value);
  }

  /** Settled, or given up: stop() waits for this. */
  over(): void {
    this.isOver = true;
    this.whenOver?.resolve();
  }

  done(): Promise<void> {
    if (this.isOver) return Promise.resolve();
    if (!this.whenOver) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.whenOver = { promise, resolve };
    }
    return this.whenOver.promise;
  }
}

function toJson(result: unknown): Json {
  if (result === undefined) return null;
  if (Buffer.isBuffer(result)) return { type: 'Buffer', base64: result.toString('base64') };
  return JSON.parse(JSON.stringify(result)) as Json;
}
