import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/config.ts';
import { TASK_NAME_PATTERN } from '../core/settings.ts';
import { TaskbusError } from '../errors.ts';
import { fail } from './common.ts';

/** The import specifier a TypeScript project uses for each task file (NodeNext and bundlers alike). */
const SPECIFIER_EXT: Record<string, string> = { '.ts': '.js', '.mts': '.mjs', '.js': '.js', '.mjs': '.mjs' };

/**
 * The source of a module exporting `Tasks`: task name → the type of the task file's default
 * export, for `createClient<Tasks>()`. Pure: file names in, text out.
 */
export function taskTypesSource(files: string[], tasksDir: string, outFile: string): string {
  const tasks = files
    .map((f) => ({ file: f, ext: extname(f), name: basename(f, extname(f)) }))
    .filter((t) => t.ext in SPECIFIER_EXT && TASK_NAME_PATTERN.test(t.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  const lines = [
    `// Written by \`taskbus types\` from ${relative(dirname(outFile), tasksDir) || '.'}: run it again after adding a task.`,
    '// The client takes these types: createClient<Tasks>({ url, key }) checks each task body.',
  ];
  tasks.forEach((t, i) => {
    let spec = relative(dirname(outFile), resolve(tasksDir, t.name + SPECIFIER_EXT[t.ext])).replaceAll(
      '\\',
      '/',
    );
    if (!spec.startsWith('.')) spec = `./${spec}`;
    lines.push(`import type task${i} from '${spec}';`);
  });
  lines.push('', 'export interface Tasks {');
  tasks.forEach((t, i) => {
    lines.push(`  '${t.name}': typeof task${i};`);
  });
  lines.push('}', '');
  return lines.join('\n');
}

/** `taskbus types`: writes the task types of a tasks folder for the typed client. */
export function registerTypes(program: Command): void {
  program
    .command('types')
    .description('write the task types of the tasks folder, for createClient<Tasks>() from taskbus/client')
    .option('--tasks <dir>', 'tasks folder (default ./tasks)')
    .option('--out <file>', 'where to write (default ./taskbus-tasks.ts)', 'taskbus-tasks.ts')
    .option('--config <file>', 'config file (default: taskbus.config.* in the working directory)')
    .action(async (o: { tasks?: string; out: string; config?: string }) => {
      try {
        const { config } = await loadConfigFile(process.cwd(), o.config ?? process.env.TASKBUS_CONFIG);
        const dir = resolve(o.tasks ?? config.tasks ?? './tasks');
        if (!existsSync(dir)) throw new TaskbusError('BAD_REQUEST', `no tasks folder at ${dir}`);
        const out = resolve(o.out);
        const source = taskTypesSource(await readdir(dir), dir, out);
        await writeFile(out, source);
        process.stdout.write(
          `${JSON.stringify({ written: out, tasks: source.match(/^ {2}'/gm)?.length ?? 0 })}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });
}
