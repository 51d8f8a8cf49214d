import type { FastifyInstance } from 'fastify';
import { filterFromQuery } from '../../deadletter/filter.ts';
import { deadLetterRules } from '../../deadletter/install.ts';
import {
  exportDeadLetters,
  parseSelection,
  purgeDeadLetters,
  redrive,
  testRules,
} from '../../deadletter/redrive.ts';
import { TaskbusError } from '../../errors.ts';
import type { Taskbus } from '../../taskbus.ts';
import { readJsonObject } from '../body.ts';

export interface DeadLetterRouteDeps {
  tb: Taskbus;
}

type Query = { Querystring: Record<string, string | string[]> };

/**
 * Dead-letter management across tasks (master key, checked by guardAdminPaths): redrive and purge
 * by ids, filter or all, export as JSON lines, and the dry run of the rules. Filters in query
 * strings: `task`, `reason` (repeatable), `since`, `until`, `error`, `bodyContains`, `body`
 * (JSON), `attempts`.
 */
export function deadLetterRoutes(app: FastifyInstance, { tb }: DeadLetterRouteDeps): void {
  app.get<Query>('/admin/deadletter/rules/test', async (request) =>
    testRules(tb, deadLetterRules(tb), filterFromQuery(request.query)),
  );

  app.get<Query>('/admin/deadletter/export', async (request, reply) => {
    const filter = filterFromQuery(request.query);
    const lines: string[] = [];
    for await (const doc of exportDeadLetters(tb, filter)) lines.push(JSON.stringify(doc));
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', 'attachment; filename="taskbus-deadletters.jsonl"')
      .send(lines.length ? `${lines.join('\n')}\n` : '');
  });

  app.post('/admin/deadletter/resubmit', async (request) => {
    const b = readJsonObject(request);
    for (const k of Object.keys(b)) {
      if (!['ids', 'filter', 'all', 'body', 'toName', 'dryRun'].includes(k))
        throw new TaskbusError('BAD_REQUEST', `unknown field '${k}'`, { details: { field: k } });
    }
    if (b.toName !== undefined && typeof b.toName !== 'string')
      throw new TaskbusError('BAD_REQUEST', 'toName must be a task name', { details: { field: 'toName' } });
    const r = await redrive(tb, parseSelection(b), {
      by: { by: 'admin-api' },
      body: b.body,
      toName: b.toName as string | undefined,
      dryRun: b.dryRun === true,
    });
    return {
      resubmitted: r.resubmitted.length,
      ids: r.resubmitted,
      notFound: r.notFound,
      dryRun: b.dryRun === true,
    };
  });

  app.post('/admin/deadletter/purge', async (request) => {
    const b = readJsonObject(request);
    for (const k of Object.keys(b)) {
      if (!['ids', 'filter', 'all', 'dryRun'].includes(k))
        throw new TaskbusError('BAD_REQUEST', `unknown field '${k}'`, { details: { field: k } });
    }
    const r = await purgeDeadLetters(tb, parseSelection(b), {
      by: { by: 'admin-api' },
      dryRun: b.dryRun === true,
    });
    return { ...r, dryRun: b.dryRun === true };
  });
}
