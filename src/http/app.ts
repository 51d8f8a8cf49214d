import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Taskbus } from '../taskbus.ts';
import type { KeyStore } from './auth/keys.ts';
import { installErrorHandling } from './problem.ts';
import { adminRoutes } from './routes/admin.ts';
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
  /** More routes (dashboard, metrics…), registered after the core routes. */
  plugins?: ((app: FastifyInstance) => void | Promise<void>)[];
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
  // routes decide what is JSON (SPEC §4).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  const validators = compileSchemas(o.tb.tasks.values());
  triggerRoutes(app, { tb: o.tb, keys: o.keys, validators });
  adminRoutes(app, { tb: o.tb, keys: o.keys });
  healthRoutes(app, { tb: o.tb, ready: o.ready ?? (() => true) });
  for (const p of o.plugins ?? []) await p(app);
  return app;
}
