import type { FastifyInstance } from 'fastify';
import { TASK_NAME_PATTERN } from '../../core/settings.ts';
import { TaskbusError } from '../../errors.ts';
import { ID_PATTERN } from '../../id.ts';
import type { Taskbus } from '../../taskbus.ts';
import { MESSAGE_STATES, type MessageState } from '../../types.ts';
import type { KeyStore } from '../auth/keys.ts';
import { readJsonObject } from '../body.ts';
import { taskDocument, taskTypeDocument } from '../documents.ts';

export interface AdminDeps {
  tb: Taskbus;
  keys: KeyStore;
}

type NameParams = { Params: { name: string } };

function knownTask(tb: Taskbus, name: string) {
  return tb.task(name);
}

function idList(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string')) {
    throw new TaskbusError('BAD_REQUEST', 'ids must be a non-empty array of message ids');
  }
  if (v.length > 10_000) throw new TaskbusError('BAD_REQUEST', 'at most 10000 ids per call');
  return v as string[];
}

/**
 * The admin API (master key, checked by guardAdminPaths): task types, browse, one message,
 * resubmit, purge, cancel, keys.
 */
export function adminRoutes(app: FastifyInstance, { tb, keys }: AdminDeps): void {
  app.get('/admin/tasks', async () => {
    const now = tb.clock.now();
    const names = [...tb.tasks.keys()].filter((n) => !n.startsWith('$'));
    const counts = new Map((await tb.counts(names)).map((c) => [c.name, c]));
    return { tasks: names.sort().map((n) => taskTypeDocument(tb.task(n), counts.get(n), now)) };
  });

  app.get<NameParams & { Querystring: { state?: string; limit?: string; cursor?: string } }>(
    '/admin/tasks/:name/messages',
    async (request) => {
      const { name } = request.params;
      knownTask(tb, name);
      const q = request.query;
      const state = (q.state ?? 'queued') as MessageState;
      if (!MESSAGE_STATES.includes(state)) {
        throw new TaskbusError('BAD_REQUEST', `state must be one of ${MESSAGE_STATES.join(', ')}`, {
          details: { parameter: 'state' },
        });
      }
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new TaskbusError('BAD_REQUEST', 'limit must be an integer from 1 to 1000', {
          details: { parameter: 'limit' },
        });
      }
      const page = await tb.browse(name, state, { limit, cursor: q.cursor || null });
      return { items: page.items.map(taskDocument), nextCursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>('/admin/messages/:id', async (request) => {
    const m = ID_PATTERN.test(request.params.id) ? await tb.getTask(request.params.id) : null;
    if (!m) throw new TaskbusError('MESSAGE_NOT_FOUND', `no message ${request.params.id}`);
    return taskDocument(m);
  });

  app.post<{ Params: { id: string } }>('/admin/messages/:id/cancel', async (request) => {
    const m = ID_PATTERN.test(request.params.id) ? await tb.getTask(request.params.id) : null;
    if (!m) throw new TaskbusError('MESSAGE_NOT_FOUND', `no message ${request.params.id}`);
    if (!(await tb.cancel(m.id))) {
      throw new TaskbusError(
        'INVALID_STATE',
        `message ${m.id} is ${m.state}: only scheduled or queued messages can be cancelled`,
      );
    }
    return { cancelled: m.id };
  });

  app.post<NameParams>('/admin/tasks/:name/deadletter/resubmit', async (request) => {
    const { name } = request.params;
    knownTask(tb, name);
    const b = readJsonObject(request);
    if ((b.all === true) === (b.ids !== undefined)) {
      throw new TaskbusError('BAD_REQUEST', 'send either { "ids": [...] } or { "all": true }');
    }
    const r = await tb.resubmit(name, {
      ids: b.all === true ? undefined : idList(b.ids),
      all: b.all === true,
      event: { by: 'admin-api' },
    });
    return { resubmitted: r.resubmitted.length, ids: r.resubmitted, notFound: r.notFound };
  });

  app.delete<NameParams>('/admin/tasks/:name/deadletter', async (request) => {
    knownTask(tb, request.params.name);
    return tb.purge(request.params.name);
  });

  app.get('/admin/keys', async () => ({
    keys: (await keys.list()).map(({ hash: _hash, ...k }) => ({
      ...k,
      createdAt: new Date(k.createdAt).toISOString(),
      revokedAt: k.revokedAt ? new Date(k.revokedAt).toISOString() : null,
    })),
  }));

  app.post('/admin/keys', async (request, reply) => {
    const b = readJsonObject(request);
    const scope = b.scope ?? (b.task ? 'function' : 'host');
    if (scope !== 'host' && scope !== 'function')
      throw new TaskbusError('BAD_REQUEST', "scope must be 'host' or 'function'");
    if (scope === 'function' && (typeof b.task !== 'string' || !TASK_NAME_PATTERN.test(b.task))) {
      throw new TaskbusError('BAD_REQUEST', 'a function key needs the task name it opens');
    }
    const label = typeof b.label === 'string' && b.label.trim() ? b.label.trim() : scope;
    const { key, record } = await keys.create({ label, scope, task: b.task as string | undefined });
    return reply.code(201).send({ id: record.id, label, scope, task: record.task, key });
  });

  app.delete<{ Params: { id: string } }>('/admin/keys/:id', async (request) => {
    if (!(await keys.revoke(request.params.id)))
      throw new TaskbusError('BAD_REQUEST', 'no active key with this id');
    return { revoked: request.params.id };
  });
}
