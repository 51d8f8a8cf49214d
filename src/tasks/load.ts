import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { resolveSettings, TASK_NAME_PATTERN } from '../core/settings.ts';
import { TaskbusError } from '../errors.ts';
import type { LoadedTask, TaskExport } from './define.ts';
import { importDefault } from './import.ts';

const EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']);

/**
 * Turns a task's default export into a LoadedTask, or throws an INVALID_TASK error naming
 * `where` (the file or the key) and the problem.
 */
export function toLoadedTask(name: string, exported: unknown, file: string | null): LoadedTask {
  const where = file ?? `task '${name}'`;
  const fail = (problem: string) => new TaskbusError('INVALID_TASK', `${where}: ${problem}`);
  if (!TASK_NAME_PATTERN.test(name)) {
    throw fail(
      `'${name}' is not a valid task name: use [a-z0-9][a-z0-9_-]{0,63} (lower case, digits, _ and -)`,
    );
  }
  if (typeof exported === 'function') {
    return {
      name,
      handler: exported as LoadedTask['handler'],
      settings: resolveSettings({}),
      description: null,
      file,
    };
  }
  if (typeof exported !== 'object' || exported === null) {
    throw fail('the default export must be an async function or an object with a handler');
  }
  const def = exported as Record<string, unknown>;
  if (typeof def.handler !== 'function') throw fail('the default export has no handler function');
  try {
    return {
      name,
      handler: def.handler as LoadedTask['handler'],
      settings: resolveSettings(def),
      description: typeof def.description === 'string' ? def.description : null,
      file,
    };
  } catch (err) {
    throw fail((err as Error).message);
  }
}

/** Tasks given in code: `{ name: handler | definition }`. */
export function tasksFromObject(tasks: Record<string, TaskExport>): LoadedTask[] {
  return Object.entries(tasks).map(([name, t]) => toLoadedTask(name, t, null));
}

/**
 * Loads every task file of a folder: `NAME.ts`, `NAME.js` or `NAME.mjs` (SPEC §2). A file that
 * fails to load, has a bad name or a bad setting throws, naming the file and the problem.
 */
export async function loadTaskDir(dir: string): Promise<LoadedTask[]> {
  const root = resolve(dir);
  let entries: string[];
  try {
    entries = (await readdir(root, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    throw new TaskbusError('INVALID_TASK', `cannot read the tasks folder ${root}: ${(err as Error).message}`);
  }
  const files = entries
    .filter((f) => EXTENSIONS.has(extname(f)) && !f.endsWith('.d.ts') && !f.includes('.test.'))
    .sort();
  const tasks: LoadedTask[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const name = f.slice(0, -extname(f).length);
    const file = join(root, f);
    if (seen.has(name)) {
      throw new TaskbusError('INVALID_TASK', `${file}: task '${name}' is also defined by ${seen.get(name)}`);
    }
    seen.set(name, file);
    let exported: unknown;
    try {
      exported = await importDefault(file);
    } catch (err) {
      throw new TaskbusError('INVALID_TASK', `${file}: failed to load: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (exported === undefined) throw new TaskbusError('INVALID_TASK', `${file}: has no default export`);
    tasks.push(toLoadedTask(name, exported, file));
  }
  return tasks;
}
