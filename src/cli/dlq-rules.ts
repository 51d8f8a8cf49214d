import type { Command } from 'commander';
import { loadConfigFile } from '../config/config.ts';
import { loadDeadLetterConfig } from '../deadletter/install.ts';
import { testRules } from '../deadletter/redrive.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';
import { type FilterFlags, filterFromFlags, filterOptions } from './dlq-filter.ts';

/**
 * `taskbus dlq rules test [name]`: the dry run of the config's dead-letter rules over the
 * messages now in the DLQ. Shows which rule would take each message, changing nothing.
 */
export function registerDlqRules(dlq: Command): void {
  const rules = dlq.command('rules').description('dead-letter rules of the config file');
  filterOptions(
    dbOptions(
      rules
        .command('test [name]')
        .description('show which rule would match each message now in the DLQ (changes nothing)'),
    ),
  ).action(async (name: string | undefined, o: DbFlags & FilterFlags) => {
    try {
      const { config, file } = await loadConfigFile(process.cwd(), o.config ?? process.env.TASKBUS_CONFIG);
      const compiled = loadDeadLetterConfig(config);
      const filter = filterFromFlags(name, o);
      const r = await withTaskbus(o, (tb) => testRules(tb, compiled.rules, filter));
      printJson({ config: file, ...r });
    } catch (err) {
      fail(err);
    }
  });
}
