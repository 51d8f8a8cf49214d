import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { loadConfigFile, type TaskbusConfig } from './config/config.ts';
import { deadLetterServerExtension, wantsDeadLetterEvents } from './deadletter/install.ts';
import { buildApp } from './http/app.ts';
import { KeyStore } from './http/auth/keys.ts';
import { openApiConfig } from './http/openapi/plugin.ts';
import { rateLimitConfig } from './http/ratelimit/config.ts';
import { RateLimiter } from './http/ratelimit/limiter.ts';
import { logConfig, metricsConfig } from './observability/config.ts';
import { serveMetrics } from './observability/http.ts';
import { createLogger } from './observability/logging.ts';
import { Metrics } from './observability/metrics.ts';
import { createTaskbus, type Taskbus } from './taskbus.ts';

export type ServerMode = 'all' | 'api' | 'worker';

export interface ServerFlags {
  tasks?: string;
  port?: number;
  host?: string;
  db?: string;
  config?: string;
}

export interface RunningServer {
  tb: Taskbus;
  app: FastifyInstance | null;
  /** The port listened on (useful with port 0). */
  port: number | null;
  config: TaskbusConfig;
  stop(graceMs?: number): Promise<void>;
}

/** Optional additions to the HTTP app and the runtime, registered by other modules. */
export type ServerExtension = (ctx: { tb: Taskbus; config: TaskbusConfig; mode: ServerMode; log: Logger }) =>
  | void
  | {
      plugin?: (app: FastifyInstance) => void | Promise<void>;
      start?: () => Promise<void> | void;
      stop?: () => Promise<void> | void;
    }
  | Promise<void | {
      plugin?: (app: FastifyInstance) => void | Promise<void>;
      start?: () => Promise<void> | void;
      stop?: () => Promise<void> | void;
    }>;
const extensions: ServerExtension[] = [];
export function registerServerExtension(e: ServerExtension): void {
  extensions.push(e);
}
registerServerExtension(deadLetterServerExtension);

/**
 * The composition root: config → storage → migrations → tasks → keys → HTTP app and/or
 * workers. `mode` 'all' runs both (the embedded default); 'api' and 'worker' run one half.
 */
export async function startServer(
  mode: ServerMode,
  flags: ServerFlags,
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<RunningServer> {
  const { config } = await loadConfigFile(process.cwd(), flags.config ?? env.TASKBUS_CONFIG);
  const logSettings = logConfig(config);
  const log: Logger = createLogger(
    {
      level: env.TASKBUS_LOG_LEVEL ?? logSettings.level,
      pretty: logSettings.format === 'json' ? false : logSettings.format === 'pretty' ? true : undefined,
    },
    env,
  );
  const db = flags.db ?? env.TASKBUS_DATABASE_URL ?? config.db ?? './taskbus.db';
  const tasksDir = flags.tasks ?? config.tasks ?? './tasks';
  const tb = await createTaskbus({
    tasks: tasksDir,
    db,
    logger: log,
    synchronous: config.synchronous,
    completedRetentionMs: config.retentionMs,
    deadLetterEvents: wantsDeadLetterEvents(config),
  });
  let ready = false;
  const metricsSettings = metricsConfig(config);
  // A worker without metrics.port has nowhere to serve them: no collector then.
  const metrics =
    metricsSettings.enabled === false || (mode === 'worker' && metricsSettings.port === undefined)
      ? null
      : new Metrics({ tb, log, defaultMetrics: metricsSettings.process ?? true });
  const stops: (() => Promise<void> | void)[] = [];
  const plugins: ((app: FastifyInstance) => void | Promise<void>)[] = [];
  const starts: (() => Promise<void> | void)[] = [];
  try {
    if (!tb.driver.capabilities.multiHost && mode !== 'all') {
      log.info(
        `${tb.driver.kind} is single-host: run 'taskbus api' and 'taskbus worker' on this machine only; use PostgreSQL across machines`,
      );
    }
    for (const e of extensions) {
      const r = await e({ tb, config, mode, log });
      if (r?.plugin) plugins.push(r.plugin);
      if (r?.start) starts.push(r.start);
      if (r?.stop) stops.push(r.stop);
    }
    let app: FastifyInstance | null = null;
    let port: number | null = null;
    if (mode !== 'worker') {
      const keys = new KeyStore(tb.driver, tb.clock);
      const { generated } = await keys.init(env.TASKBUS_MASTER_KEY);
      if (generated) {
        out(`Master key (shown once; store it now, it is kept only hashed): ${generated}`);
      }
      app = await buildApp({
        tb,
        keys,
        bodyLimit: config.bodyLimit,
        ready: () => ready,
        logger: log,
        plugins,
        metrics: metrics ? { metrics, public: metricsSettings.public } : undefined,
        openapi: openApiConfig(config),
        rateLimiter: RateLimiter.from(rateLimitConfig(config), tb.driver, tb.clock),
        logRequests: logSettings.requests,
      });
      const listenPort = flags.port ?? (env.PORT ? Number(env.PORT) : undefined) ?? config.port ?? 7071;
      const host = flags.host ?? config.host ?? '127.0.0.1';
      await app.listen({ port: listenPort, host });
      const addr = app.server.address();
      port = typeof addr === 'object' && addr ? addr.port : listenPort;
    }
    if (metrics && metricsSettings.port !== undefined) {
      // A /metrics listener of its own: how `taskbus worker` (no HTTP API) is scraped.
      const keys = new KeyStore(tb.driver, tb.clock);
      if (env.TASKBUS_MASTER_KEY) await keys.init(env.TASKBUS_MASTER_KEY);
      const host = flags.host ?? config.host ?? '127.0.0.1';
      const server = await serveMetrics({
        metrics,
        access: { public: metricsSettings.public, keys },
        port: metricsSettings.port,
        host,
        log,
      });
      stops.push(() => server.close());
      log.info({ port: server.port }, `metrics on http://${host}:${server.port}/metrics`);
    }
    if (metrics) stops.push(() => metrics.close());
    if (mode !== 'api') await tb.startWorkers();
    for (const s of starts) await s();
    ready = true;
    const names = [...tb.tasks.keys()].filter((n) => !n.startsWith('$'));
    log.info(
      { mode, db: redact(db), tasks: names, port },
      `taskbus ${mode} ready${port ? ` on http://${flags.host ?? config.host ?? '127.0.0.1'}:${port}` : ''}`,
    );
    let stopping: Promise<void> | null = null;
    return {
      tb,
      app,
      port,
      config,
      stop: (graceMs = 10_000) =>
        (stopping ??= (async () => {
          ready = false;
          await app?.close();
          for (const s of stops) await s();
          await tb.close(graceMs);
        })()),
    };
  } catch (err) {
    await tb.close(0).catch(() => {});
    throw err;
  }
}

/** Hides a password in a database URL for logs. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
