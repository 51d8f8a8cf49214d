import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isTaskbusError } from '../../src/errors.ts';
import { loadTaskDir } from '../../src/tasks/load.ts';

const root = mkdtempSync(join(tmpdir(), 'taskbus-load-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function folder(files: Record<string, string>): string {
  const d = join(root, `f${n++}`);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

const rejectsNaming = (dir: string, ...parts: (string | RegExp)[]) =>
  assert.rejects(loadTaskDir(dir), (e: unknown) => {
    assert.ok(isTaskbusError(e, 'INVALID_TASK'), String(e));
    for (const p of parts)
      assert.match(
        (e as Error).message,
        typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p,
      );
    return true;
  });

describe('loadTaskDir', () => {
  it('load › reads .ts, .js and .mjs files, bare functions and definitions, without a build step', async () => {
    const dir = folder({
      'typed.ts': `interface In { n: number }\nexport default { handler: async (b: In) => b.n * 2, maxDeliveryCount: 3, backoff: { type: 'fixed', delayMs: 10 } };`,
      'plain.mjs': 'export default async function (body) { return body; }',
      'common.js': 'export default { handler: async () => 1, concurrency: 2 };',
      'README.md': 'not a task',
      'package.json': '{"type":"module"}',
    });
    const tasks = await loadTaskDir(dir);
    assert.deepEqual(
      tasks.map((t) => t.name),
      ['common', 'plain', 'typed'],
    );
    const typed = tasks.find((t) => t.name === 'typed')!;
    assert.equal(typed.settings.maxDeliveryCount, 3);
    assert.deepEqual(typed.settings.backoff, { type: 'fixed', delayMs: 10, jitter: false });
    assert.equal(await typed.handler({ n: 21 }, {} as never), 42);
    const plain = tasks.find((t) => t.name === 'plain')!;
    assert.equal(plain.settings.maxDeliveryCount, 10);
    assert.equal(plain.settings.concurrency, 16);
    assert.equal(plain.settings.auth, 'function');
  });

  it('load › TypeScript task files load in a project that is not "type": "module"', async () => {
    const dir = folder({
      'package.json': '{"name":"app"}',
      'typed.ts':
        'type In = { n: number };\nexport default { handler: async (b: In) => b.n + 1, concurrency: 3 };',
      'bare.cts': 'export default async (b: { s: string }) => b.s.toUpperCase();',
    });
    const tasks = await loadTaskDir(dir);
    assert.deepEqual(
      tasks.map((t) => [t.name, t.settings.concurrency]),
      [
        ['bare', 16],
        ['typed', 3],
      ],
    );
    assert.equal(await tasks[1].handler({ n: 1 }, {} as never), 2);
    assert.equal(await tasks[0].handler({ s: 'a' }, {} as never), 'A');
  });

  it('load › a bad task name stops the start, naming the file', async () => {
    const dir = folder({ 'Bad_Name.mjs': 'export default async () => 1;' });
    await rejectsNaming(dir, 'Bad_Name.mjs', 'not a valid task name');
  });

  it('load › a bad setting stops the start, naming the file and the setting', async () => {
    const dir = folder({ 'x.mjs': 'export default { handler: async () => 1, maxDeliveryCount: 0 };' });
    await rejectsNaming(dir, 'x.mjs', 'maxDeliveryCount must be an integer');
    const dir2 = folder({ 'y.mjs': 'export default { handler: async () => 1, retries: 3 };' });
    await rejectsNaming(dir2, 'y.mjs', "unknown setting 'retries'");
    const dir3 = folder({
      'z.mjs': "export default { handler: async () => 1, backoff: { type: 'linear' } };",
    });
    await rejectsNaming(dir3, 'z.mjs', 'backoff.type');
  });

  it('load › a file that fails to load or has no handler stops the start', async () => {
    await rejectsNaming(
      folder({ 'boom.mjs': "throw new Error('kaput');" }),
      'boom.mjs',
      'failed to load',
      'kaput',
    );
    await rejectsNaming(folder({ 'syntax.ts': 'export default {{;' }), 'syntax.ts', 'failed to load');
    await rejectsNaming(folder({ 'none.mjs': 'export const x = 1;' }), 'none.mjs', 'no default export');
    await rejectsNaming(folder({ 'obj.mjs': 'export default { concurrency: 1 };' }), 'obj.mjs', 'no handler');
    await rejectsNaming(join(root, 'missing'), 'cannot read the tasks folder');
  });

  it('load › two files with the same task name stop the start', async () => {
    await rejectsNaming(
      folder({ 'dup.js': 'export default async () => 1;', 'dup.mjs': 'export default async () => 2;' }),
      'dup',
    );
  });
});
