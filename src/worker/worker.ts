import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { decideFailure, LOCK_EXPIRED_ERROR } from '../core/decide.ts';
import { DEFAULT_SETTINGS } from '../core/settings.ts';
import { newToken } from '../id.ts';
import type { Rescue, StorageDriver } from '../storage/driver.ts';
import type { LoadedTask, TaskContext } from '../tasks/define.ts';
import { type RunnerHooks, TaskRunner } from './runner.ts';
import { Settler } from './settler.ts';

export interface WorkerOptions {
  driver: StorageDriver;
  tasks: LoadedTask[];
  clock: Clock;
  random: () => number;
  log: Logger;
  enqueue: TaskContext['enqueue'];
  hooks?: RunnerHooks;
  workerId?: string;
  /**
   * Fallback poll for messages enqueued by other processes or becoming visible on schedule.
   * In-process enqueues and PostgreSQL notifications wake runners at once.
   */
  pollIntervalMs?: number;
  /** How often expired locks and TTLs are checked. */
  rescueIntervalMs?: number;
  /** How often retention is enforced. */
  maintenanceIntervalMs?: number;
  completedRetentionMs?: number;
}

/** The queue trigger: one TaskRunner per task, plus the rescuer and retention passes. */
export class Worker {
  readonly id: string;
  private readonly runners = new Map<string, TaskRunner>();
  private readonly settler: Settler;
  private timers = new Map<number, unknown>();
  private unsubscribe: (() => Promise<void>) | null = null;
  private started = false;
  private passes = new Set<Promise<unknown>>();

  constructor(private readonly o: WorkerOptions) {
    this.id = o.workerId ?? `${hostname()}:${process.pid}:${newToken().slice(0, 6)}`;
    this.settler = new Settler(o.driver, o.clock);
    for (const task of o.tasks) {
      this.runners.set(
        task.name,
        new TaskRunner(task, {
          driver: o.driver,
          settler: this.settler,
          clock: o.clock,
          random: o.random,
          workerId: this.id,
          log: o.log,
          enqueue: o.enqueue,
          hooks: o.hooks ?? {},
        }),
      );
    }
  }

  get activeCount(): number {
    let n = 0;
    for (const r of this.runners.values()) n += r.active;
    return n;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.o.driver.capabilities.notifications && this.o.driver.subscribe) {
      this.unsubscribe = await this.o.driver.subscribe((names) =>
        this.wake(names.length ? names : undefined),
      );
    }
    this.every(this.o.pollIntervalMs ?? 250, () => this.wake());
    this.every(this.o.rescueIntervalMs ?? 1000, () => this.track(this.rescuePass()));
    this.every(this.o.maintenanceIntervalMs ?? 60_000, () => this.track(this.maintenancePass()));
    this.wake();
  }

  /** Wakes the runners of these task names (all when omitted). */
  wake(names?: Iterable<string>): void {
    if (!this.started) return;
    if (!names) {
      for (const r of this.runners.values()) r.wake();
      return;
    }
    for (const n of names) this.runners.get(n)?.wake();
  }

  private every(ms: number, fn: () => void): void {
    const slot = this.timers.size;
    const tick = () => {
      fn();
      if (this.started) this.timers.set(slot, this.o.clock.setTimeout(tick, ms));
    };
    this.timers.set(slot, this.o.clock.setTimeout(tick, ms));
  }

  private track(p: Promise<unknown>): void {
    this.passes.add(p);
    p.finally(() => this.passes.delete(p));
  }

  /**
   * Expired locks: the delivery is recorded as lost ('LockLostError: lock expired') and core
   * decides retry or dead-letter, exactly as for a handler that threw. Then TTL expiry.
   */
  async rescuePass(): Promise<{ rescued: string[]; expired: string[] }> {
    const { driver, clock, log } = this.o;
    try {
      const now = clock.now();
      const expired = await driver.findExpiredLocks({ now, limit: 500 });
      const items: Rescue[] = expired.map((e) => {
        const settings = this.runners.get(e.name)?.task.settings ?? DEFAULT_SETTINGS;
        const attempt = {
          startedAt: e.lockedAt,
          endedAt: e.lockedUntil,
          worker: e.lockedBy,
          error: LOCK_EXPIRED_ERROR,
        };
        const outcome = decideFailure({
          deliveryCount: e.deliveryCount,
          maxDeliveryCount: settings.maxDeliveryCount,
          backoff: settings.backoff,
          error: LOCK_EXPIRED_ERROR,
          now,
          random: this.o.random,
        });
        return outcome.kind === 'retry'
          ? { id: e.id, lockToken: e.lockToken, outcome: 'retry', visibleAt: outcome.visibleAt, attempt }
          : {
              id: e.id,
              lockToken: e.lockToken,
              outcome: 'deadletter',
              reason: outcome.reason,
              description: outcome.description,
              attempt,
            };
      });
      const rescued = items.length ? await driver.rescue({ items, now }) : [];
      if (rescued.length) log.warn({ count: rescued.length }, 'rescued messages whose lock expired');
      const ttl = await driver.expireTtl({ now, limit: 500 });
      if (ttl.length) log.info({ count: ttl.length }, 'dead-lettered messages whose TTL passed');
      if (rescued.length) this.wake(expired.map((e) => e.name));
      return { rescued, expired: ttl };
    } catch (err) {
      log.error({ err }, 'rescue pass failed; retrying on the next pass');
      return { rescued: [], expired: [] };
    }
  }

  async maintenancePass(): Promise<void> {
    try {
      // Batches of 5,000 keep each transaction short; up to 40 per pass (200,000 rows a minute,
      // ~3,300/s) keeps retention ahead of sustained throughput without a long-running delete.
      for (let i = 0; i < 40 && this.started; i++) {
        const r = await this.o.driver.maintain({
          now: this.o.clock.now(),
          completedRetentionMs: this.o.completedRetentionMs ?? 7 * 86_400_000,
          idempotencyRetentionMs: 86_400_000,
          limit: 5000,
        });
        if (r.deletedMessages < 5000 && r.deletedKeys < 5000) break;
      }
    } catch (err) {
      this.o.log.error({ err }, 'maintenance pass failed');
    }
  }

  /**
   * Graceful shutdown: stop receiving, let running handlers finish for up to `graceMs`, then
   * abort the rest and abandon them (visible again at once), so nothing is lost.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const t of this.timers.values()) this.o.clock.clearTimeout(t);
    this.timers.clear();
    await this.unsubscribe?.();
    await Promise.all([...this.runners.values()].map((r) => r.stop(graceMs)));
    await this.settler.drain();
    await Promise.all([...this.passes]);
  }
}
