import type { Command } from 'commander';
import { TASK_NAME_PATTERN } from '../core/settings.ts';
import { TaskbusError } from '../errors.ts';
import { KeyStore } from '../http/auth/keys.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** `taskbus keys create|list|revoke`: function and host keys, stored hashed. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage function and host keys');

  dbOptions(keys.command('create').description('create a key; it is printed once and stored only hashed'))
    .option('--task <name>', 'a function key for this task')
    .option('--host', 'a host key: opens every task')
    .option('--label <label>', 'a name to recognise the key by')
    .action(async (o: DbFlags & { task?: string; host?: boolean; label?: string }) => {
      try {
        if (!!o.task === !!o.host)
          throw new TaskbusError(
            'BAD_REQUEST',
            'give --task NAME for a function key or --host for a host key',
          );
        if (o.task && !TASK_NAME_PATTERN.test(o.task))
          throw new TaskbusError('BAD_REQUEST', `'${o.task}' is not a valid task name`);
        const r = await withTaskbus(o, (tb) =>
          new KeyStore(tb.driver, tb.clock).create({
            label: o.label ?? (o.host ? 'host' : `function:${o.task}`),
            scope: o.host ? 'host' : 'function',
            task: o.task,
          }),
        );
        printJson({
          id: r.record.id,
          label: r.record.label,
          scope: r.record.scope,
          task: r.record.task,
          key: r.key,
        });
      } catch (err) {
        fail(err);
      }
    });

  dbOptions(keys.command('list').description('list keys (never the keys themselves)')).action(async (o) => {
    try {
      const list = await withTaskbus(o, (tb) => new KeyStore(tb.driver, tb.clock).list());
      printJson(
        list.map(({ hash: _h, ...k }) => ({
          ...k,
          createdAt: new Date(k.createdAt).toISOString(),
          revokedAt: k.revokedAt ? new Date(k.revokedAt).toISOString() : null,
        })),
      );
    } catch (err) {
      fail(err);
    }
  });

  dbOptions(keys.command('revoke <id>').description('revoke a key')).action(async (id: string, o) => {
    try {
      const ok = await withTaskbus(o, (tb) => new KeyStore(tb.driver, tb.clock).revoke(id));
      if (!ok) throw new TaskbusError('BAD_REQUEST', `no active key with id ${id}`);
      printJson({ revoked: id });
    } catch (err) {
      fail(err);
    }
  });
}
