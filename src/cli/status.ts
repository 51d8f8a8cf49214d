import type { Command } from 'commander';
import { TaskbusError } from '../errors.ts';
import { taskDocument } from '../http/documents.ts';
import { type DbFlags, dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** Prints one task's status document, as GET /api/{name}/tasks/{id} gives it. */
export async function printTask(id: string, o: DbFlags): Promise<void> {
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
}

/** `taskbus status ID`. */
export function registerStatus(program: Command): void {
  dbOptions(program.command('status <id>').description("print a task's status, result and attempts")).action(
    printTask,
  );
}
