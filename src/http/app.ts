import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type DashboardOptions, dashboardRoutes } from '../dashboard/index.ts';
import { metricsRoute } from '../observability/http.ts';
import { logRequests } from '../observability/logging.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Taskbus } from '../taskbus.ts';
import { guardAdminPaths } from './auth/guard.ts';
import type { KeyStore } from './auth/keys.ts';
import { type OpenApiOptions, registerOpenApi } from './openapi/plugin.ts';
import { installErrorHandling } from './problem.ts';
import type { RateLimiter } from './ratelimit/limiter.ts';
import { adminRoutes } from './routes/admin.ts';
import { deadLetterRoutes } from './routes/deadletter.ts';
import { healthRoutes } from './routes/health.ts';
import { triggerRoutes } from './routes/trigger.ts';
import { compileSchemas } from './schema.ts';

export const DEFAULT_BODY_LIMIT = 256 * 1024;

export interface AppOptions {
  tb: Taskbus;
  keys: KeyStore;
  /** Request body limit in bytes (default 256 KiB, the Service Bus standard tier). */
  bodyLimit?: number;
  /** Readiness beyond storage: false while starting or shutting down. */
  ready?: () => boolean;
  /** Where request errors are logged (default: the Taskbus logger). */
  logger?: Logger;
  /** The web dashboard at `/` (default on); false turns it off. */
  dashboard?: DashboardOptions | false;
  /** More routes (dashboard, metrics…), registered after the core routes. */
  plugins?: ((app: FastifyInstance) => void | Promise<void>)[];
  /** Prometheus metrics: requests counted per route and status, served at GET /metrics. */
  metrics?: { metrics: Metrics; public?: boolean };
  /** OpenAPI at /openapi.json and Swagger UI at /docs (default on); false turns both off. */
  openapi?: OpenApiOptions | false;
  /** Rate limits and quotas on the task endpoints (off unless given). */
  rateLimiter?: RateLimiter;
  /** One access-log line per request (method, route, status, time; `?code=` removed). */
  logRequests?: boolean;
}

/**
 * Builds the HTTP app. It never listens: tests drive it with `app.inject`, the server calls
 * `listen`.
 */
export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const bodyLimit = o.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({ bodyLimit, return503OnClosing: true, forceCloseConnections: 'idle' });
  installErrorHandling(app, o.logger ?? o.tb.log);
  // Every content type arrives as raw bytes, counted against the limit as it streams in;
  // routes decide what is JSON (SPEC §4). The same parser is registered for JSON by name as
  // well: Fastify caches the parser it finds for a content type only when one is registered
  // under that type, and with the catch-all alone it parsed the header on every request.
  app.removeAllContentTypeParsers();
  const raw = (_req: unknown, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, raw);
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, raw);
  const validators = compileSchemas(o.tb.tasks.values());
  // Both collect routes as they are declared: before the routes.
  o.metrics?.metrics.instrument(app);
  if (o.openapi !== false) await registerOpenApi(app, { tb: o.tb, keys: o.keys, ...o.openapi });
  if (o.logRequests) logRequests(app, o.logger ?? o.tb.log);
  triggerRoutes(app, { tb: o.tb, keys: o.keys, validators, limiter: o.rateLimiter });
  guardAdminPaths(app, o.keys);
  adminRoutes(app, { tb: o.tb, keys: o.keys });
  deadLetterRoutes(app, { tb: o.tb });
  healthRoutes(app, { tb: o.tb, ready: o.ready ?? (() => true) });
  if (o.dashboard !== false) dashboardRoutes(app, { tb: o.tb, keys: o.keys, ...o.dashboard });
  if (o.metrics) metricsRoute(app, o.metrics.metrics, { public: o.metrics.public, keys: o.keys });
  for (const p of o.plugins ?? []) await p(app);
  return app;
}
