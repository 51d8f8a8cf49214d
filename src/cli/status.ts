import type { Command } from 'commander';
import { TaskbusError } from '../errors.ts';
import { taskDocument } from '../http/documents.ts';
import { dbOptions, fail, printJson, withTaskbus } from './common.ts';

/** `taskbus status ID`: the task's status document, as GET /api/{name}/tasks/{id} gives it. */
export function registerStatus(program: Command): void {
  dbOptions(program.command('status <id>').description("print a task's status, result and attempts")).action(
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
}
