import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTaskbusError, TaskbusError } from '../errors.ts';
import { localPath, requireAction, type Viewer } from './auth.ts';
import { FILTER_LIMIT, scan } from './data.ts';
import { findMessage, findTask, listQuery, renderQueue } from './pages.ts';
import { type DashboardContext, HIDDEN, redirectWith, sendPage } from './reply.ts';
import { failed } from './views/layout.ts';
import { messageBody } from './views/message.ts';
import { queueUrl } from './views/queue.ts';

/** Resubmit by filter looks at this many dead letters at most per click. */
const FILTER_SCAN = 5 * FILTER_LIMIT;

type Refusal = (viewer: Viewer, err: TaskbusError) => Promise<FastifyReply>;

/**
 * The actions (POST): resubmit one, selected or by filter, edit and resubmit, purge with a typed
 * confirmation, cancel. Each needs a viewer and, with a session cookie, the CSRF token (401 /
 * 403 problem otherwise). A refused action shows its page again with the reason; a done action
 * redirects to its page with the outcome. Resubmits and cancels are recorded in each task's
 * history; a purge deletes the tasks with their history and is written to the server log.
 */
export function actionRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  const { tb } = ctx;

  /** Runs an action; its own refusals (bad input, wrong state) re-render the page via `refuse`. */
  const action = async (
    request: FastifyRequest,
    reply: FastifyReply,
    run: (viewer: Viewer, form: URLSearchParams, refuse: (r: Refusal) => void) => Promise<FastifyReply>,
  ) => {
    let viewer: Viewer;
    let form: URLSearchParams;
    try {
      ({ viewer, form } = await requireAction(request, ctx));
    } catch (err) {
      if (isTaskbusError(err, 'UNAUTHORIZED') && request.headers['hx-request'] === 'true') {
        reply.header('hx-redirect', '/dashboard/login');
      }
      throw err;
    }
    let onRefusal: Refusal | null = null;
    try {
      return await run(viewer, form, (r) => {
        onRefusal = r;
      });
    } catch (err) {
      if (!isTaskbusError(err) || err.status >= 500 || !onRefusal) throw err;
      // The URL stays on the page the action came from (htmx must not push the POST URL).
      reply.header('hx-push-url', 'false');
      return (onRefusal as Refusal)(viewer, err);
    }
  };

  const queueRefusal =
    (reply: FastifyReply, name: string, form: URLSearchParams): Refusal =>
    async (viewer, err) => {
      const list = listQuery({ state: 'deadlettered', q: form.get('q') ?? '' });
      return sendPage(reply, ctx, {
        title: `${name} · deadlettered`,
        viewer,
        body: await renderQueue(ctx, viewer, name, list),
        current: name,
        notice: failed(err.message),
        status: err.status,
      });
    };

  const messageRefusal =
    (reply: FastifyReply, id: string, editedBody?: string): Refusal =>
    async (viewer, err) => {
      const m = await findMessage(ctx, id);
      return sendPage(reply, ctx, {
        title: `${m.name} ${m.id.slice(0, 8)}`,
        viewer,
        body: messageBody({ m, viewer, pollMs: ctx.pollMs, editedBody }),
        current: m.name,
        notice: failed(err.message),
        status: err.status,
      });
    };

  app.post<{ Params: { name: string } }>('/dashboard/tasks/:name/resubmit', HIDDEN, (request, reply) =>
    action(request, reply, async (_viewer, form, refuse) => {
      const name = findTask(ctx, request.params.name);
      refuse(queueRefusal(reply, name, form));
      const q = (form.get('q') ?? '').trim();
      const back = queueUrl(name, { state: 'deadlettered', q });
      let r: { resubmitted: string[]; notFound: string[] };
      if (form.get('mode') === 'filter') {
        const event = { by: 'dashboard', action: 'resubmit-filter', ...(q ? { filter: q } : {}) };
        if (q) {
          const { found } = await scan(tb, name, 'deadlettered', q, FILTER_SCAN, FILTER_LIMIT);
          if (found.length === 0) return redirectWith(reply, back, { done: 'none' });
          r = await tb.resubmit(name, { ids: found.map((m) => m.id), event });
        } else {
          r = await tb.resubmit(name, { all: true, event });
        }
      } else {
        const ids = selectedIds(form);
        r = await tb.resubmit(name, { ids, event: { by: 'dashboard', action: 'resubmit-selected' } });
      }
      tb.log.info({ task: name, resubmitted: r.resubmitted.length }, 'dashboard: resubmitted dead letters');
      return redirectWith(reply, back, {
        done: 'resubmitted',
        n: r.resubmitted.length,
        missing: r.notFound.length,
      });
    }),
  );

  app.post<{ Params: { name: string } }>('/dashboard/tasks/:name/purge', HIDDEN, (request, reply) =>
    action(request, reply, async (_viewer, form, refuse) => {
      const name = findTask(ctx, request.params.name);
      refuse(queueRefusal(reply, name, form));
      if ((form.get('confirm') ?? '').trim() !== name) {
        throw new TaskbusError('BAD_REQUEST', `Type the task name “${name}” to confirm the purge.`);
      }
      const ids = form.get('mode') === 'all' ? undefined : selectedIds(form);
      const r = await tb.purge(name, ids);
      tb.log.warn({ task: name, purged: r.purged, ids: ids ?? 'all' }, 'dashboard: purged dead letters');
      return redirectWith(reply, queueUrl(name, { state: 'deadlettered' }), { done: 'purged', n: r.purged });
    }),
  );

  app.post<{ Params: { id: string } }>('/dashboard/messages/:id/resubmit', HIDDEN, (request, reply) =>
    action(request, reply, async (_viewer, form, refuse) => {
      const m = await findMessage(ctx, request.params.id);
      const edited = form.get('body');
      refuse(messageRefusal(reply, m.id, edited ?? undefined));
      let body: unknown;
      if (edited !== null) {
        try {
          body = JSON.parse(edited);
        } catch (err) {
          throw new TaskbusError(
            'MALFORMED_JSON',
            `The edited body is not valid JSON: ${(err as Error).message}`,
          );
        }
      }
      const r = await tb.resubmit(m.name, {
        ids: [m.id],
        body,
        event: { by: 'dashboard', action: edited === null ? 'resubmit' : 'edit-resubmit' },
      });
      if (r.resubmitted.length === 0) {
        throw new TaskbusError(
          'INVALID_STATE',
          `This task is ${m.state}: only dead-lettered tasks can be resubmitted.`,
        );
      }
      return redirectWith(reply, `/dashboard/messages/${m.id}`, {
        done: edited === null ? 'resubmitted' : 'edited',
        n: 1,
      });
    }),
  );

  app.post<{ Params: { id: string } }>('/dashboard/messages/:id/cancel', HIDDEN, (request, reply) =>
    action(request, reply, async (_viewer, form, refuse) => {
      const m = await findMessage(ctx, request.params.id);
      refuse(messageRefusal(reply, m.id));
      if (!(await tb.cancel(m.id))) {
        throw new TaskbusError(
          'INVALID_STATE',
          `This task is ${m.state}: only scheduled or queued tasks can be cancelled.`,
        );
      }
      const next = form.get('next');
      return redirectWith(reply, next ? localPath(next) : `/dashboard/messages/${m.id}`, {
        done: 'cancelled',
      });
    }),
  );
}

/** The ids ticked in a list, or a refusal when there are none. */
function selectedIds(form: URLSearchParams): string[] {
  const ids = [...new Set(form.getAll('ids').filter(Boolean))];
  if (ids.length === 0) throw new TaskbusError('BAD_REQUEST', 'Select at least one task first.');
  if (ids.length > FILTER_LIMIT)
    throw new TaskbusError('BAD_REQUEST', `Select at most ${FILTER_LIMIT} tasks.`);
  return ids;
}
