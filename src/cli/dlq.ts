import type { Command } from 'commander';
import { exportDeadLetters, purgeDeadLetters, redrive, type Selection } from '../deadletter/redrive.ts';
import { TaskbusError } from '../errors.ts';
import { progressBar } from '../observability/progress.ts';
import type { Taskbus } from '../taskbus.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';
import {
  cliActor,
  type FilterFlags,
  filterFromFlags,
  filterOptions,
  parseJsonFlag,
  selectionFromArgs,
} from './dlq-filter.ts';
import { printTask } from './status.ts';

/** `taskbus dlq list|show|resubmit|purge|export`: the dead-letter queue from the command line. */
export function registerDlq(program: Command): Command {
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
    printTask,
  );

  filterOptions(
    dbOptions(
      dlq
        .command('resubmit [name] [ids...]')
        .description('move dead-lettered tasks back to their queue: by ids, by filter, or --all'),
    ),
  )
    .option('--all', 'every dead-lettered task (of this name, or of every task)')
    .option('--body <json>', 'replace the body of every moved task')
    .option('--to <name>', 'send to this task instead of the original')
    .option('--dry-run', 'only list what would move')
    .action(
      async (
        name: string | undefined,
        ids: string[],
        o: DbFlags & FilterFlags & { all?: boolean; body?: string; to?: string; dryRun?: boolean },
      ) => {
        try {
          const sel = selectionFromArgs(name === undefined ? [] : [name, ...ids], o);
          const body = o.body === undefined ? undefined : parseJsonFlag('--body', o.body);
          const r = await withTaskbus(o, (tb) =>
            withProgress(tb, 'resubmit', sel, o.dryRun ? null : 'resubmitted', () =>
              redrive(tb, sel, { by: cliActor(), body, toName: o.to, dryRun: o.dryRun }),
            ),
          );
          printJson({
            resubmitted: r.resubmitted.length,
            ids: r.resubmitted,
            notFound: r.notFound,
            dryRun: !!o.dryRun,
          });
          if (r.notFound.length) process.exitCode = 3;
        } catch (err) {
          fail(err);
        }
      },
    );

  filterOptions(
    dbOptions(
      dlq
        .command('purge [name] [ids...]')
        .description('delete dead-lettered tasks: every one of this name, by ids, by filter, or --all'),
    ),
  )
    .option('--all', 'every dead-lettered task of every task name')
    .option('--yes', 'confirm: this cannot be undone')
    .option('--dry-run', 'only list what would be deleted')
    .action(
      async (
        name: string | undefined,
        ids: string[],
        o: DbFlags & FilterFlags & { all?: boolean; yes?: boolean; dryRun?: boolean },
      ) => {
        try {
          const sel = selectionFromArgs(name === undefined ? [] : [name, ...ids], o, true);
          if (!o.yes && !o.dryRun)
            throw new TaskbusError(
              'BAD_REQUEST',
              `purging deletes ${name ? `dead-lettered '${name}' tasks` : 'dead-lettered tasks'}: add --yes to confirm`,
            );
          const r = await withTaskbus(o, (tb) =>
            withProgress(tb, 'purge', sel, o.dryRun ? null : 'purged', () =>
              purgeDeadLetters(tb, sel, { by: cliActor(), dryRun: o.dryRun }),
            ),
          );
          if (o.dryRun) printJson({ wouldPurge: r.ids.length, ids: r.ids, notFound: r.notFound });
          else
            printJson(r.notFound.length ? { purged: r.purged, notFound: r.notFound } : { purged: r.purged });
          if (r.notFound.length) process.exitCode = 3;
        } catch (err) {
          fail(err);
        }
      },
    );

  filterOptions(
    dbOptions(
      dlq.command('export [name]').description('print dead-lettered tasks as JSON lines, one per task'),
    ),
  ).action(async (name: string | undefined, o: DbFlags & FilterFlags) => {
    try {
      const filter = filterFromFlags(name, o);
      await withTaskbus(o, async (tb) => {
        const bar = progressBar('export', await deadLettered(tb, { filter }));
        try {
          for await (const doc of exportDeadLetters(tb, filter)) {
            process.stdout.write(`${JSON.stringify(doc)}\n`);
            bar.increment();
          }
          bar.finish();
        } finally {
          bar.stop();
        }
      });
    } catch (err) {
      fail(err);
    }
  });
  return dlq;
}

/** How many dead-lettered messages a selection can reach: the total of its progress bar. */
async function deadLettered(tb: Taskbus, sel: Selection): Promise<number> {
  if ('ids' in sel) return sel.ids.length;
  const task = 'filter' in sel ? (sel.filter as { task?: string | string[] }).task : undefined;
  const names = task === undefined ? undefined : [task].flat();
  return (await tb.counts(names)).reduce(
    (n, c) => n + (names || !c.name.startsWith('$') ? c.deadlettered : 0),
    0,
  );
}

/**
 * Runs a move or delete with a progress bar on a terminal (quiet in pipes), advanced by the
 * Taskbus events of each batch.
 */
async function withProgress<T>(
  tb: Taskbus,
  label: string,
  sel: Selection,
  event: 'resubmitted' | 'purged' | null,
  fn: () => Promise<T>,
): Promise<T> {
  if (!event) return fn();
  const bar = progressBar(label, await deadLettered(tb, sel));
  const tick = (e: { count: number }) => bar.increment(e.count);
  tb.on(event, tick);
  try {
    const r = await fn();
    bar.finish();
    return r;
  } finally {
    tb.off(event, tick);
    bar.stop();
  }
}
