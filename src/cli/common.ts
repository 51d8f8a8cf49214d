import { existsSync } from 'node:fs';
import pino from 'pino';
import { loadConfigFile } from '../config/config.ts';
import { isTaskbusError } from '../errors.ts';
import { createTaskbus, type Taskbus } from '../taskbus.ts';

export interface DbFlags {
  db?: string;
  tasks?: string;
  config?: string;
}

/**
 * Opens the database for a one-shot command: --db, TASKBUS_DATABASE_URL, the config file, or
 * ./taskbus.db. Task files are loaded when the folder exists (for their settings); names
 * without a file are accepted, since the CLI may run where only the database is.
 */
export async function openForCommand(flags: DbFlags): Promise<Taskbus> {
  const { config } = await loadConfigFile(process.cwd(), flags.config ?? process.env.TASKBUS_CONFIG);
  const db = flags.db ?? process.env.TASKBUS_DATABASE_URL ?? config.db ?? './taskbus.db';
  const dir = flags.tasks ?? config.tasks ?? './tasks';
  return createTaskbus({
    tasks: existsSync(dir) ? dir : {},
    db,
    acceptUnknownTasks: true,
    logger: pino({ level: process.env.TASKBUS_LOG_LEVEL ?? 'warn' }),
  });
}

/** Runs a command body with an open Taskbus and closes it, whatever happens. */
export async function withTaskbus<T>(flags: DbFlags, fn: (tb: Taskbus) => Promise<T>): Promise<T> {
  const tb = await openForCommand(flags);
  try {
    return await fn(tb);
  } finally {
    await tb.close(0);
  }
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** Prints an error the way a user can act on it and exits non-zero. */
export function fail(err: unknown): never {
  const msg = isTaskbusError(err) ? `${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`taskbus: ${msg}\n`);
  process.exit(isTaskbusError(err, 'TASK_NOT_FOUND') || isTaskbusError(err, 'MESSAGE_NOT_FOUND') ? 3 : 1);
}

export const dbOptions = (cmd: import('commander').Command) =>
  cmd
    .option(
      '--db <url>',
      'database: SQLite file path, :memory: or postgres:// URL (env TASKBUS_DATABASE_URL)',
    )
    .option('--tasks <dir>', 'tasks folder', undefined)
    .option('--config <file>', 'config file (default: taskbus.config.* in the working directory)');
