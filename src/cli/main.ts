import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerDlq } from './dlq.ts';
import { registerDlqRules } from './dlq-rules.ts';
import { registerEnqueue } from './enqueue.ts';
import { registerKeys } from './keys.ts';
import { registerMigrate } from './migrate.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';
import { registerTypes } from './types.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command()
  .name('taskbus')
  .description('Self-hosted asynchronous tasks: HTTP trigger, peek-lock queue, workers, dead letters.')
  .version(pkg.version)
  .showHelpAfterError();

registerStart(program);
registerEnqueue(program);
registerStatus(program);
registerDlqRules(registerDlq(program));
registerKeys(program);
registerMigrate(program);
registerTypes(program);

await program.parseAsync(process.argv);
