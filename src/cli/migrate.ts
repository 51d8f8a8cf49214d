import type { Command } from 'commander';
import { dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** `taskbus migrate`: applies schema migrations (also done on every start). */
export function registerMigrate(program: Command): void {
  dbOptions(program.command('migrate').description('create or upgrade the database schema')).action(
    async (o) => {
      try {
        const kind = await withTaskbus(o, async (tb) => tb.driver.kind);
        printJson({ migrated: true, storage: kind });
      } catch (err) {
        fail(err);
      }
    },
  );
}
