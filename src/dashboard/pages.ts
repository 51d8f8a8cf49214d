import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTaskbusError, TaskbusError } from '../errors.ts';
import { ID_PATTERN } from '../id.ts';
import { MESSAGE_STATES, type MessageRecord, type MessageState } from '../types.ts';
import { currentViewer, type Viewer } from './auth.ts';
import { type ListQuery, listMessages, overview } from './data.ts';
import type { Html } from './html.ts';
import {
  type DashboardContext,
  doneNotice,
  errorBody,
  HIDDEN,
  htmxTarget,
  sendHtml,
  sendPage,
  toLogin,
} from './reply.ts';
import { messageBody } from './views/message.ts';
import { overviewSection } from './views/overview.ts';
import { queueBody, tabs } from './views/queue.ts';

type QueueQuery = { state?: string; q?: string; order?: string; cursor?: string; done?: string };

/** The list settings of a queue page, validated. */
export function listQuery(q: QueueQuery): ListQuery {
  const state = (q.state || 'queued') as MessageState;
  if (!MESSAGE_STATES.includes(state)) {
    throw new TaskbusError('BAD_REQUEST', `state must be one of ${MESSAGE_STATES.join(', ')}`);
  }
  if (q.order !== undefined && q.order !== '' && q.order !== 'newest' && q.order !== 'oldest') {
    throw new TaskbusError('BAD_REQUEST', 'order must be newest or oldest');
  }
  return {
    state,
    q: (q.q ?? '').slice(0, 200),
    order: q.order === 'oldest' ? 'oldest' : 'newest',
    cursor: q.cursor || null,
    limit: 50,
  };
}

/** The queue page's content (also used to show an action's refusal in place). */
export async function renderQueue(
  ctx: DashboardContext,
  viewer: Viewer,
  name: string,
  list: ListQuery,
): Promise<Html> {
  const [counts] = await ctx.tb.counts([name]);
  const page = await listMessages(ctx.tb, name, list);
  return queueBody({
    name,
    description: ctx.tb.task(name).description,
    counts,
    list,
    page,
    viewer,
    now: ctx.tb.clock.now(),
    pollMs: ctx.pollMs,
  });
}

/** The message of a page request, or a MESSAGE_NOT_FOUND error. */
export async function findMessage(ctx: DashboardContext, id: string): Promise<MessageRecord> {
  const m = ID_PATTERN.test(id) ? await ctx.tb.getTask(id) : null;
  if (!m || m.name.startsWith('$')) throw new TaskbusError('MESSAGE_NOT_FOUND', `no task with id ${id}`);
  return m;
}

/** A public task name, or TASK_NOT_FOUND (internal `$…` tasks have no page). */
export function findTask(ctx: DashboardContext, name: string): string {
  if (name.startsWith('$') || !ctx.tb.tasks.has(name))
    throw new TaskbusError('TASK_NOT_FOUND', `no task named '${name}'`);
  return name;
}

/** The read-only pages: overview, a queue's messages, one task. */
export function pageRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  /** Runs a page handler for a logged-in viewer; refusals become an HTML error page. */
  const guarded =
    <R extends { Params?: unknown; Querystring?: unknown }>(
      fn: (request: FastifyRequest<R>, reply: FastifyReply, viewer: Viewer) => Promise<FastifyReply>,
    ) =>
    async (request: FastifyRequest<R>, reply: FastifyReply) => {
      const viewer = await currentViewer(request, ctx);
      if (!viewer) return toLogin(request, reply);
      try {
        return await fn(request, reply, viewer);
      } catch (err) {
        if (!isTaskbusError(err) || err.status >= 500) throw err;
        const title = err.status === 404 ? 'Not found' : 'Cannot show this page';
        return sendPage(reply, ctx, {
          title,
          viewer,
          body: errorBody(title, err.message),
          status: err.status,
        });
      }
    };

  app.get('/dashboard', HIDDEN, (_request, reply) => reply.code(303).header('location', '/').send());

  app.get(
    '/',
    HIDDEN,
    guarded(async (request, reply, viewer) => {
      const section = overviewSection(await overview(ctx.tb), ctx.pollMs);
      if (htmxTarget(request) === 'overview') return sendHtml(reply, section);
      return sendPage(reply, ctx, { title: 'Overview', viewer, body: section });
    }),
  );

  app.get<{ Params: { name: string }; Querystring: QueueQuery }>(
    '/dashboard/tasks/:name',
    HIDDEN,
    guarded<{ Params: { name: string }; Querystring: QueueQuery }>(async (request, reply, viewer) => {
      const name = findTask(ctx, request.params.name);
      const list = listQuery(request.query);
      const q = list.q.trim().toLowerCase();
      if (ID_PATTERN.test(q)) {
        // A whole id: go straight to the task, whatever its state.
        const m = await ctx.tb.getTask(q);
        if (m?.name === name) return reply.code(303).header('location', `/dashboard/messages/${m.id}`).send();
      }
      if (htmxTarget(request) === 'tabs') {
        const [counts] = await ctx.tb.counts([name]);
        return sendHtml(reply, tabs({ name, counts, list, pollMs: ctx.pollMs }));
      }
      return sendPage(reply, ctx, {
        title: `${name} · ${list.state}`,
        viewer,
        body: await renderQueue(ctx, viewer, name, list),
        current: name,
        notice: doneNotice(request.query),
      });
    }),
  );

  app.get<{ Params: { id: string }; Querystring: { done?: string } }>(
    '/dashboard/messages/:id',
    HIDDEN,
    guarded<{ Params: { id: string }; Querystring: { done?: string } }>(async (request, reply, viewer) => {
      const m = await findMessage(ctx, request.params.id);
      const section = messageBody({ m, viewer, pollMs: ctx.pollMs });
      if (htmxTarget(request) === 'message') return sendHtml(reply, section);
      return sendPage(reply, ctx, {
        title: `${m.name} ${m.id.slice(0, 8)}`,
        viewer,
        body: section,
        current: m.name,
        notice: doneNotice(request.query),
      });
    }),
  );
}
