import type { FastifyInstance } from 'fastify';
import type { Taskbus } from '../../taskbus.ts';

/** Liveness (process up) and readiness (storage reachable, migrations done, tasks loaded). */
export function healthRoutes(
  app: FastifyInstance,
  { tb, ready }: { tb: Taskbus; ready: () => boolean },
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!ready())
      return reply.code(503).type('application/problem+json').send(notReady('starting or stopping'));
    try {
      await tb.driver.ping();
    } catch (err) {
      return reply
        .code(503)
        .type('application/problem+json')
        .send(notReady(`storage unreachable: ${(err as Error).message}`));
    }
    return {
      status: 'ready',
      storage: tb.driver.kind,
      tasks: [...tb.tasks.keys()].filter((n) => !n.startsWith('$')).length,
    };
  });
}

function notReady(detail: string) {
  return { type: 'https://taskbus.dev/errors/not-ready', title: 'Not ready', status: 503, detail };
}
