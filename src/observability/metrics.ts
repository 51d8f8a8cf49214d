/**
 * Prometheus metrics (prom-client). What an autoscaler scales workers on (KEDA's Prometheus
 * scaler, a Kubernetes HPA on external metrics) and what alerts watch:
 *
 * - `taskbus_messages{task,state}` and `taskbus_queue_oldest_age_seconds{task}`: read from
 *   storage at scrape time, so every process reports the same cluster-wide numbers (aggregate
 *   with `max`, not `sum`).
 * - counters and histograms of this process: enqueued (API), completed / failed attempts /
 *   dead-lettered, handler duration and enqueue → start latency (workers), HTTP requests by
 *   route and status (API). Aggregate with `sum(rate(…))`.
 *
 * Hot paths only bump plain numbers in maps; prom-client reads them when scraped. The HTTP
 * counter costs one route-level onSend hook and one Map update per request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Taskbus, TaskbusEvents } from '../taskbus.ts';
import { MESSAGE_STATES } from '../types.ts';

export interface MetricsOptions {
  tb: Taskbus;
  /** Where metrics are registered (default: a new registry). */
  registry?: Registry;
  /** Node.js process metrics (CPU, memory, event-loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  log?: Logger;
}

/** Handler durations: 5 ms … 5 min (the default `timeoutMs`). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Queue wait: 1 ms (an idle worker) … 1 h (a backlog). */
const LATENCY_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
];
/** Storage counts are reused this long, so one scrape reads them once for all gauges. A scrape
 * through `text()` always reads them afresh. */
const COUNTS_TTL_MS = 1000;

interface RouteCounts {
  method: string;
  route: string;
  byStatus: Map<number, number>;
}

/** Per-label running totals, reported to a prom-client counter at scrape time. */
class Totals {
  private readonly byTask = new Map<string, number>();
  add(task: string, n = 1): void {
    this.byTask.set(task, (this.byTask.get(task) ?? 0) + n);
  }
  report(counter: Counter<'task'>): void {
    counter.reset();
    for (const [task, n] of this.byTask) counter.inc({ task }, n);
  }
}

export class Metrics {
  readonly registry: Registry;
  private readonly tb: Taskbus;
  private readonly routes: RouteCounts[] = [];
  private readonly enqueued = new Totals();
  private readonly completed = new Totals();
  private readonly failed = new Totals();
  private readonly deadlettered = new Totals();
  private readonly resubmitted = new Totals();
  private readonly purged = new Totals();
  private readonly handlerDuration: Histogram<'task' | 'outcome'>;
  private readonly queueLatency: Histogram<'task'>;
  private counts: { at: number; p: Promise<Awaited<ReturnType<Taskbus['counts']>> | null> } | null = null;
  private readonly detach: () => void;

  constructor(o: MetricsOptions) {
    this.tb = o.tb;
    const registry = o.registry ?? new Registry();
    this.registry = registry;
    const log = o.log ?? o.tb.log;
    if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

    const counter = (name: string, help: string, totals: Totals) =>
      new Counter({
        name,
        help,
        labelNames: ['task'] as const,
        registers: [registry],
        collect() {
          totals.report(this);
        },
      });
    counter('taskbus_enqueued_total', 'Tasks enqueued by this process.', this.enqueued);
    counter('taskbus_completed_total', 'Deliveries completed by handlers in this process.', this.completed);
    counter(
      'taskbus_failed_total',
      'Failed attempts in this process (handler threw, timed out or was shut down), retried or not.',
      this.failed,
    );
    counter(
      'taskbus_deadlettered_total',
      'Messages dead-lettered by workers in this process after a failed attempt.',
      this.deadlettered,
    );
    counter(
      'taskbus_resubmitted_total',
      'Dead-lettered messages moved back to a queue by this process (API, dashboard, CLI, rules).',
      this.resubmitted,
    );
    counter('taskbus_purged_total', 'Dead-lettered messages deleted by this process.', this.purged);
    this.handlerDuration = new Histogram({
      name: 'taskbus_handler_duration_seconds',
      help: 'Time from delivery to the end of the handler, by outcome (complete, abandon, deadletter).',
      labelNames: ['task', 'outcome'] as const,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.queueLatency = new Histogram({
      name: 'taskbus_enqueue_to_start_seconds',
      help: 'Time from enqueue to the first delivery (includes any requested delay).',
      labelNames: ['task'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });

    const routes = this.routes;
    new Counter({
      name: 'taskbus_http_requests_total',
      help: 'HTTP requests answered by this process, by route pattern and status.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const r of routes) {
          for (const [status, n] of r.byStatus)
            this.inc({ method: r.method, route: r.route, status: String(status) }, n);
        }
      },
    });

    const storageUp = new Gauge({
      name: 'taskbus_storage_up',
      help: '1 when the last scrape could read the queue counts from storage, else 0.',
      registers: [registry],
    });
    const fetchCounts = () => this.fetchCounts(log, storageUp);
    new Gauge({
      name: 'taskbus_messages',
      help: 'Messages per task and state, read from storage (the same in every process: use max).',
      labelNames: ['task', 'state'] as const,
      registers: [registry],
      async collect() {
        const counts = await fetchCounts();
        if (!counts) return;
        this.reset();
        for (const c of counts)
          for (const state of MESSAGE_STATES) this.set({ task: c.name, state }, c[state]);
      },
    });
    const now = () => this.tb.clock.now();
    new Gauge({
      name: 'taskbus_queue_oldest_age_seconds',
      help: 'Age of the oldest message waiting to run (queued), per task; 0 when none waits.',
      labelNames: ['task'] as const,
      registers: [registry],
      async collect() {
        const counts = await fetchCounts();
        if (!counts) return;
        this.reset();
        const t = now();
        for (const c of counts) {
          const age = c.oldestQueuedAt === null ? 0 : Math.max(0, t - c.oldestQueuedAt) / 1000;
          this.set({ task: c.name }, age);
        }
      },
    });

    const onEnqueued = (e: TaskbusEvents['enqueued'][0]) => this.enqueued.add(e.name, e.count);
    const onStarted = (e: TaskbusEvents['started'][0]) => {
      if (e.deliveryCount === 1)
        this.queueLatency.observe({ task: e.name }, Math.max(0, e.now - e.enqueuedAt) / 1000);
    };
    const onSettled = (e: TaskbusEvents['settled'][0]) => {
      if (e.kind === 'complete') this.completed.add(e.name);
      else {
        this.failed.add(e.name);
        if (e.kind === 'deadletter') this.deadlettered.add(e.name);
      }
      this.handlerDuration.observe({ task: e.name, outcome: e.kind }, e.durationMs / 1000);
    };
    const onResubmitted = (e: TaskbusEvents['resubmitted'][0]) => this.resubmitted.add(e.name, e.count);
    const onPurged = (e: TaskbusEvents['purged'][0]) => this.purged.add(e.name, e.count);
    o.tb.on('enqueued', onEnqueued);
    o.tb.on('started', onStarted);
    o.tb.on('settled', onSettled);
    o.tb.on('resubmitted', onResubmitted);
    o.tb.on('purged', onPurged);
    this.detach = () => {
      o.tb.off('enqueued', onEnqueued);
      o.tb.off('started', onStarted);
      o.tb.off('settled', onSettled);
      o.tb.off('resubmitted', onResubmitted);
      o.tb.off('purged', onPurged);
    };
  }

  /**
   * Counts every request of every route added after this call, by route pattern and status.
   * Call before the routes are declared (buildApp does).
   */
  instrument(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const entry: RouteCounts = {
        method: Array.isArray(route.method) ? route.method.join(',') : route.method,
        route: route.url,
        byStatus: new Map(),
      };
      this.routes.push(entry);
      const { byStatus } = entry;
      // onSend, not onResponse: a route with an onResponse hook makes Fastify time every
      // response and listen for its end (two listeners added and removed per request).
      const count = (
        _req: FastifyRequest,
        reply: FastifyReply,
        payload: unknown,
        done: (err: null, payload: unknown) => void,
      ) => {
        const s = reply.statusCode;
        byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
        done(null, payload);
      };
      const existing = route.onSend;
      route.onSend = existing === undefined ? [count] : [...[existing].flat(), count];
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for a scrape (storage counts read once, fresh). */
  text(): Promise<string> {
    this.counts = null;
    return this.registry.metrics();
  }

  /** Stops listening to the Taskbus events. */
  close(): void {
    this.detach();
  }

  private fetchCounts(log: Logger, up: Gauge): Promise<Awaited<ReturnType<Taskbus['counts']>> | null> {
    const t = Date.now();
    if (this.counts && t - this.counts.at < COUNTS_TTL_MS) return this.counts.p;
    const p = this.tb.counts().then(
      (c) => {
        up.set(1);
        return c;
      },
      (err) => {
        up.set(0);
        log.warn({ err }, 'metrics: could not read queue counts from storage');
        return null;
      },
    );
    this.counts = { at: t, p };
    return p;
  }
}
