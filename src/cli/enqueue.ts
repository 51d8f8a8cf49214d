import type { Command } from 'commander';
import { TaskbusError } from '../errors.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** `taskbus enqueue NAME [JSON]`: stores a task directly in the database. */
export function registerEnqueue(program: Command): void {
  dbOptions(
    program
      .command('enqueue <name> [json]')
      .description('enqueue a task with a JSON body (default null)')
      .option('--delay-ms <ms>', 'deliver after this many milliseconds')
      .option('--idempotency-key <key>', 'a repeat within 24 h returns the first task'),
  ).action(
    async (
      name: string,
      json: string | undefined,
      o: DbFlags & { delayMs?: string; idempotencyKey?: string },
    ) => {
      try {
        let body: unknown = null;
        if (json !== undefined) {
          try {
            body = JSON.parse(json);
          } catch (err) {
            throw new TaskbusError('MALFORMED_JSON', `the body is not valid JSON: ${(err as Error).message}`);
          }
        }
        const delayMs = o.delayMs === undefined ? undefined : Number(o.delayMs);
        if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 0)) {
          throw new TaskbusError('BAD_REQUEST', '--delay-ms must be a non-negative integer');
        }
        const r = await withTaskbus(o, (tb) =>
          tb.enqueue(name, body, { delayMs, idempotencyKey: o.idempotencyKey }),
        );
        printJson({ id: r.id, name: r.name, created: r.created });
      } catch (err) {
        fail(err);
      }
    },
  );
}
