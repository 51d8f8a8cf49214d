import type { ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TaskbusError } from '../../errors.ts';
import { ID_PATTERN } from '../../id.ts';
import type { Taskbus } from '../../taskbus.ts';
import { authorizeTask } from '../auth/guard.ts';
import type { KeyStore } from '../auth/keys.ts';
import { readBody } from '../body.ts';
import { acceptedDocument, statusUrl, taskDocument } from '../documents.ts';
import { enqueueOptions } from '../options.ts';
import type { RateLimiter } from '../ratelimit/limiter.ts';
import { validateBody } from '../schema.ts';

export interface TriggerDeps {
  tb: Taskbus;
  keys: KeyStore;
  validators: Map<string, ValidateFunction>;
  /** Rate limits and quotas, when configured. */
  limiter?: RateLimiter;
}

type NameParams = { Params: { name: string } };
type TaskParams = { Params: { name: string; id: string } };

/** The HTTP trigger (SPEC §4): POST /api/{name} and the status endpoint. */
export function triggerRoutes(app: FastifyInstance, { tb, keys, validators, limiter }: TriggerDeps): void {
  /**
   * The key check for a task endpoint (internal `$` tasks have none: they answer as unknown),
   * then its rate limit.
   */
  const admit = async (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
    op: 'enqueue' | 'status',
  ) => {
    const level = name.startsWith('$') ? undefined : tb.tasks.get(name)?.settings.auth;
    const principal = await authorizeTask(request, keys, name, level);
    if (limiter) await limiter.check(request, reply, name, principal, op);
  };

  app.post<NameParams>('/api/:name', async (request, reply) => {
    const { name } = request.params;
    await admit(request, reply, name, 'enqueue');
    const now = tb.clock.now();
    const options = enqueueOptions(request, now);
    const body = readBody(request);
    const validate = validators.get(name);
    if (validate && body.kind === 'json') validateBody(validate, body.value);
    let r: Awaited<ReturnType<Taskbus['enqueue']>>;
    try {
      r = await tb.enqueue(name, body.value, {
        ...options,
        contentType: body.kind === 'bytes' ? body.contentType : undefined,
      });
    } catch (err) {
      if (err instanceof TaskbusError) throw err;
      // Never a 202 for a task that is not stored.
      throw new TaskbusError('STORAGE_UNAVAILABLE', 'the task could not be stored; nothing was enqueued', {
        cause: err,
      });
    }
    reply.header('location', statusUrl(name, r.id));
    if (!r.created) {
      const first = await tb.getTask(r.id);
      return reply.code(200).send(acceptedDocument({ id: r.id, name, status: first?.state ?? 'completed' }));
    }
    const scheduled =
      (options.delayMs ?? 0) > 0 || (typeof options.scheduledFor === 'number' && options.scheduledFor > now);
    return reply
      .code(202)
      .send(acceptedDocument({ id: r.id, name, status: scheduled ? 'scheduled' : 'queued' }));
  });

  app.get<TaskParams>('/api/:name/tasks/:id', async (request, reply) => {
    const { name, id } = request.params;
    await admit(request, reply, name, 'status');
    const m = ID_PATTERN.test(id) ? await tb.getTask(id) : null;
    if (!m || m.name !== name)
      throw new TaskbusError('MESSAGE_NOT_FOUND', `task ${name} has no message ${id}`);
    return taskDocument(m);
  });
}
