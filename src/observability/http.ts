import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { TaskbusError } from '../errors.ts';
import { presentedKey } from '../http/auth/guard.ts';
import type { KeyStore } from '../http/auth/keys.ts';
import type { Metrics } from './metrics.ts';

export interface MetricsAccess {
  /** Serve without a key. Otherwise a host or master key is required (Prometheus: `authorization`). */
  public?: boolean;
  keys: KeyStore | null;
}

/** Whether a presented key may scrape: host and master keys may; function keys open one task only. */
async function mayScrape(key: string | null, access: MetricsAccess): Promise<boolean> {
  if (access.public) return true;
  if (!key || !access.keys) return false;
  const p = await access.keys.authenticate(key);
  return p !== null && p.kind !== 'function';
}

/** `GET /metrics` on the HTTP app. */
export function metricsRoute(app: FastifyInstance, metrics: Metrics, access: MetricsAccess): void {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Queue depth per task and state, counters and histograms, in the Prometheus text format. Needs a host or master key unless `metrics.public` is set.',
        tags: ['observability'],
      },
    },
    async (request, reply) => {
      if (!(await mayScrape(presentedKey(request), access)))
        throw new TaskbusError('UNAUTHORIZED', 'a host or master key is required to read metrics');
      const body = await metrics.text();
      return reply.type(metrics.contentType).send(body);
    },
  );
}

/** The key of a plain Node request, as `presentedKey` finds it for Fastify (SPEC §4 order). */
function nodeKey(req: IncomingMessage): string | null {
  const h = req.headers['x-functions-key'];
  if (typeof h === 'string' && h.trim()) return h.trim();
  const code = new URL(req.url ?? '/', 'http://localhost').searchParams.get('code');
  if (code?.trim()) return code.trim();
  const m = /^\s*Bearer\s+(.+?)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : null;
}

/**
 * A listener serving only `/metrics`, for processes without the HTTP API (`taskbus worker`,
 * where handler durations and outcomes are counted).
 */
export async function serveMetrics(o: {
  metrics: Metrics;
  access: MetricsAccess;
  port: number;
  host: string;
  log: Logger;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    mayScrape(nodeKey(req), o.access)
      .then(async (ok) => {
        if (!ok) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('a host or master key is required\n');
          return;
        }
        const body = await o.metrics.text();
        res.writeHead(200, { 'content-type': o.metrics.contentType }).end(body);
      })
      .catch((err) => {
        o.log.error({ err }, 'metrics scrape failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics failed\n');
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
