import type { Command } from 'commander';
import { TaskbusError } from '../errors.ts';
import { taskDocument } from '../http/documents.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** `taskbus dlq list|show|resubmit|purge`: the dead-letter queue from the command line. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('browse, resubmit or purge dead-lettered tasks');

  dbOptions(dlq.command('list [name]').description('list dead-lettered tasks (of one task name, or all)'))
    .option('--limit <n>', 'at most this many per task', '50')
    .action(async (name: string | undefined, o: DbFlags & { limit: string }) => {
      try {
        const rows = await withTaskbus(o, async (tb) => {
          const names = name
            ? [name]
            : (await tb.counts()).filter((c) => c.deadlettered > 0).map((c) => c.name);
          const out = [];
          for (const n of names) {
            const page = await tb.browse(n, 'deadlettered', { limit: Number(o.limit) });
            for (const m of page.items) {
              out.push({
                id: m.id,
                name: m.name,
                deadLetterReason: m.deadLetterReason,
                deadLetterErrorDescription: m.deadLetterErrorDescription,
                deliveryCount: m.deliveryCount,
                deadLetteredAt: m.deadLetteredAt ? new Date(m.deadLetteredAt).toISOString() : null,
              });
            }
          }
          return out;
        });
        printJson(rows);
      } catch (err) {
        fail(err);
      }
    });

  dbOptions(dlq.command('show <id>').description('one dead-lettered task with every attempt')).action(
    async (id: string, o) => {
      try {
        const doc = await withTaskbus(o, async (tb) => {
          const m = await tb.getTask(id);
          if (!m) throw new TaskbusError('MESSAGE_NOT_FOUND', `no task with id ${id}`);
          return taskDocument(m);
        });
        printJson(doc);
      } catch (err) {
        fail(err);
      }
    },
  );

  dbOptions(
    dlq.command('resubmit <name> [ids...]').description('move dead-lettered tasks back to their queue'),
  )
    .option('--all', 'every dead-lettered task of this name')
    .action(async (name: string, ids: string[], o: DbFlags & { all?: boolean }) => {
      try {
        if (!o.all && ids.length === 0) throw new TaskbusError('BAD_REQUEST', 'give message ids or --all');
        if (o.all && ids.length) throw new TaskbusError('BAD_REQUEST', 'give message ids or --all, not both');
        const r = await withTaskbus(o, (tb) =>
          tb.resubmit(name, { ids: o.all ? undefined : ids, all: !!o.all, event: { by: 'cli' } }),
        );
        printJson({ resubmitted: r.resubmitted.length, ids: r.resubmitted, notFound: r.notFound });
        if (r.notFound.length) process.exitCode = 3;
      } catch (err) {
        fail(err);
      }
    });

  dbOptions(dlq.command('purge <name>').description('delete every dead-lettered task of this name'))
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (name: string, o: DbFlags & { yes?: boolean }) => {
      try {
        if (!o.yes)
          throw new TaskbusError(
            'BAD_REQUEST',
            `purging deletes every dead-lettered '${name}' task: add --yes to confirm`,
          );
        printJson(await withTaskbus(o, (tb) => tb.purge(name)));
      } catch (err) {
        fail(err);
      }
    });
}
