/**
 * The LISTEN side of notifications: one dedicated connection per driver (a pooled connection
 * cannot LISTEN: it is handed to other queries between uses). It reconnects by itself after a
 * connection loss, with backoff, and then reports every waiting task name, because
 * notifications sent while it was away are lost (PostgreSQL does not queue them for absent
 * listeners). Workers keep polling as the fallback either way.
 */
import pg from 'pg';

export interface ListenerOptions {
  config: pg.ClientConfig;
  channel: string;
  /** Called with task names that may have visible messages. */
  onNames: (names: string[]) => void;
  /** Every task name with a waiting message, asked after a reconnect. */
  waitingNames: () => Promise<string[]>;
  /** Reconnect backoff: first delay and cap (ms). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** A round trip on the idle connection this often proves it is alive (half-open TCP). */
  heartbeatMs?: number;
}

export class Listener {
  private client: pg.Client | null = null;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private pending = new Set<string>();
  private flushScheduled = false;
  /** How many times the connection was re-established (for tests and metrics). */
  reconnects = 0;

  constructor(private readonly o: ListenerOptions) {}

  /** Connects once; on failure keeps trying in the background (workers poll meanwhile). */
  async start(): Promise<void> {
    if (!(await this.connect())) this.scheduleReconnect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.retryTimer = null;
    this.heartbeat = null;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  get connected(): boolean {
    return this.client !== null;
  }

  private async connect(): Promise<boolean> {
    const c = new pg.Client(this.o.config);
    // An error or end on this client means the connection is gone: drop it and reconnect.
    const lost = () => {
      if (this.client !== c) return;
      this.client = null;
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      c.end().catch(() => {});
      this.scheduleReconnect();
    };
    c.on('error', lost);
    c.on('end', lost);
    c.on('notification', (n) => {
      if (n.channel === this.o.channel && n.payload) this.push([n.payload]);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(this.o.channel)}`);
    } catch {
      await c.end().catch(() => {});
      return false;
    }
    if (this.stopped) {
      await c.end().catch(() => {});
      return true;
    }
    this.client = c;
    this.failures = 0;
    const every = this.o.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => {
      c.query('SELECT 1').catch(lost);
    }, every);
    this.heartbeat.unref();
    return true;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const min = this.o.minDelayMs ?? 100;
    const max = this.o.maxDelayMs ?? 5_000;
    // 100 ms, 200 ms, … capped at 5 s, with ±50% jitter so a fleet does not reconnect in lockstep.
    const base = Math.min(max, min * 2 ** this.failures);
    const delay = base / 2 + Math.random() * base;
    this.failures++;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (this.stopped) return;
      if (await this.connect()) {
        if (this.stopped) return;
        this.reconnects++;
        // Anything announced while we were away is lost: report every waiting name.
        try {
          this.push(await this.o.waitingNames());
        } catch {
          // The poll covers it.
        }
      } else {
        this.scheduleReconnect();
      }
    }, delay);
    // Not unref'd: while subscribed, the listener is either a socket or this timer, so a
    // process that only works (no HTTP server) stays alive through a connection loss.
  }

  /** Coalesces the notifications of one event-loop turn into one call. */
  private push(names: string[]): void {
    for (const n of names) this.pending.add(n);
    if (this.flushScheduled || this.pending.size === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = [...this.pending];
      this.pending.clear();
      if (!this.stopped && batch.length) this.o.onNames(batch);
    });
  }
}

/**
 * The subscribers of one driver sharing one Listener: it connects on the first subscribe and
 * disconnects when the last one leaves.
 */
export class Subscriptions {
  private listener: Listener | null = null;
  private readonly subscribers = new Set<(names: string[]) => void>();

  constructor(private readonly o: Omit<ListenerOptions, 'onNames'>) {}

  async add(subscriber: (names: string[]) => void): Promise<() => Promise<void>> {
    this.subscribers.add(subscriber);
    if (!this.listener) {
      this.listener = new Listener({
        ...this.o,
        onNames: (names) => {
          for (const s of this.subscribers) s(names);
        },
      });
      await this.listener.start();
    }
    return async () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) await this.stop();
    };
  }

  async stop(): Promise<void> {
    this.subscribers.clear();
    const l = this.listener;
    this.listener = null;
    await l?.stop();
  }

  get state(): { connected: boolean; reconnects: number } | null {
    return this.listener
      ? { connected: this.listener.connected, reconnects: this.listener.reconnects }
      : null;
  }
}
