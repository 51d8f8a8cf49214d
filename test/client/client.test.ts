import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient, TaskbusClientError } from '../../src/client/index.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { runCli } from '../support/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TASKS = fileURLToPath(new URL('./fixtures/tasks', import.meta.url));
const MASTER = 'client-test-master-key-0a1b2c';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('client › against a running server', () => {
  let server: RunningServer;
  let url: string;
  let fnKey: string;
  before(async () => {
    const config = join(dir, 'taskbus.config.json');
    writeFileSync(
      config,
      JSON.stringify({ rateLimits: { tasks: { limited: { limit: 1, windowMs: 600_000 } } } }),
    );
    server = await startServer(
      'all',
      { tasks: TASKS, db: join(dir, 'client.db'), port: 0, config },
      { TASKBUS_MASTER_KEY: MASTER, TASKBUS_LOG_LEVEL: 'silent' },
      () => {},
    );
    url = `http://127.0.0.1:${server.port}`;
    fnKey = (
      await server.app!.inject({
        method: 'POST',
        url: '/admin/keys',
        headers: { 'x-functions-key': MASTER, 'content-type': 'application/json' },
        payload: JSON.stringify({ scope: 'function', task: 'add' }),
      })
    ).json().key;
  });
  after(() => server?.stop(1000));

  it('enqueue › answers a handle; waitFor resolves with the result', async () => {
    const c = createClient({ url, key: MASTER });
    const h = await c.enqueue('add', { a: 2, b: 40 });
    assert.equal(h.name, 'add');
    assert.equal(h.status, 'queued');
    assert.equal(h.created, true);
    assert.equal(h.statusUrl, `/api/add/tasks/${h.id}`);
    const done = await c.waitFor(h);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result, { sum: 42 });
    assert.equal(done.attempts.length, 1);
  });

  it('get › by handle, by id it enqueued, by id and name; an unknown id needs the name or the master key', async () => {
    const c = createClient({ url, key: fnKey });
    const h = await c.enqueue('add', { a: 1, b: 1 });
    assert.equal((await c.get(h)).id, h.id);
    assert.equal((await c.get(h.id)).name, 'add');
    const fresh = createClient({ url, key: fnKey });
    assert.equal((await fresh.get(h.id, 'add')).id, h.id);
    await assert.rejects(fresh.get(h.id), (e: TaskbusClientError) => e.status === 401);
    const admin = createClient({ url, key: MASTER });
    assert.equal((await admin.get(h.id)).name, 'add');
  });

  it('enqueue › options travel as headers: idempotency, delay, traceparent', async () => {
    const c = createClient({ url, key: MASTER });
    const a = await c.enqueue('echo', { text: 'once' }, { idempotencyKey: 'order-17' });
    const b = await c.enqueue('echo', { text: 'twice' }, { idempotencyKey: 'order-17' });
    assert.equal(b.id, a.id);
    assert.equal(b.created, false);
    const later = await c.enqueue('echo', { text: 'later' }, { delayMs: 3_600_000 });
    assert.equal(later.status, 'scheduled');
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = await c.enqueue('echo', { text: 't' }, { traceparent: tp });
    assert.equal((await server.tb.getTask(traced.id))?.traceparent, tp);
    // waitFor gives up with TIMEOUT on a task that will not finish in time.
    await assert.rejects(
      c.waitFor(later, { timeoutMs: 50, intervalMs: 10 }),
      (e: TaskbusClientError) => e.code === 'TIMEOUT' && e.status === 0,
    );
  });

  it('enqueue › bytes go as they are, with their content type', async () => {
    const c = createClient({ url, key: MASTER });
    const h = await c.enqueue('bytes', new Uint8Array([1, 2, 3, 4, 5]), { contentType: 'image/png' });
    assert.deepEqual((await c.waitFor(h)).result, { size: 5 });
    const m = await server.tb.getTask(h.id);
    assert.equal(m?.body.kind === 'bytes' && m.body.contentType, 'image/png');
  });

  it('errors › problem+json becomes TaskbusClientError with code, problem and Retry-After', async () => {
    const c = createClient({ url, key: MASTER });
    await assert.rejects(
      c.enqueue('add', { a: 'one' } as never),
      (e: TaskbusClientError) =>
        e instanceof TaskbusClientError &&
        e.status === 422 &&
        e.code === 'SCHEMA_VALIDATION' &&
        Array.isArray(e.problem?.errors),
    );
    await assert.rejects(
      createClient({ url, key: 'wrong' }).enqueue('add', { a: 1, b: 2 }),
      (e: TaskbusClientError) => e.status === 401 && e.code === 'UNAUTHORIZED',
    );
    await c.enqueue('limited', null);
    await assert.rejects(
      c.enqueue('limited', null),
      (e: TaskbusClientError) => e.status === 429 && e.code === 'RATE_LIMITED' && (e.retryAfterMs ?? 0) > 0,
    );
    await assert.rejects(
      createClient({ url: 'http://127.0.0.1:1' }).enqueue('add', { a: 1, b: 2 }),
      (e: TaskbusClientError) => e.code === 'NETWORK',
    );
  });

  it('waitFor › a dead-lettered task resolves with its reason (it does not throw)', async () => {
    const c = createClient({ url, key: MASTER });
    const done = await c.waitFor(await c.enqueue('broken', { why: 'test' }));
    assert.equal(done.status, 'deadlettered');
    assert.equal(done.deadLetterReason, 'MaxDeliveryCountExceeded');
    assert.match(done.deadLetterErrorDescription ?? '', /broken on purpose/);
  });
});

describe('client › browser-safe and typed', () => {
  it('uses no Node API: no imports, no process, no Buffer', () => {
    const src = readFileSync(join(ROOT, 'src/client/index.ts'), 'utf8').replace(
      /\/\*[\s\S]*?\*\/|\/\/.*$/gm,
      '',
    );
    assert.doesNotMatch(src, /^\s*import\s/m);
    assert.doesNotMatch(src, /\brequire\(|\bprocess\.|\bBuffer\b|node:/);
  });

  it('types › `taskbus types` writes Tasks; enqueue bodies and results are checked by tsc', () => {
    const out = join(dir, 'taskbus-tasks.ts');
    const r = runCli(['types', '--tasks', TASKS, '--out', out], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json(), { written: out, tasks: 6 });
    const generated = readFileSync(out, 'utf8');
    assert.match(generated, /'add': typeof task0;/);
    const client = relative(dir, join(ROOT, 'src/client/index.ts'));
    writeFileSync(
      join(dir, 'usage.ts'),
      `import { createClient } from '${client}';
import type { Tasks } from './taskbus-tasks.ts';

const c = createClient<Tasks>({ url: 'http://127.0.0.1:7071', key: 'k' });
export async function usage() {
  const h = await c.enqueue('add', { a: 1, b: 2 });
  const done = await c.waitFor(h);
  const sum: number | undefined = done.result?.sum;
  const upper: string | null = (await c.get(h.id, 'echo')).result;
  await c.enqueue('ping');
  await c.enqueue('bytes', new Uint8Array([1]), { contentType: 'image/png' });
  // @ts-expect-error a body of the wrong shape
  await c.enqueue('add', { a: 'one', b: 2 });
  // @ts-expect-error no such task
  await c.enqueue('nope', {});
  // @ts-expect-error add needs a body
  await c.enqueue('add');
  // @ts-expect-error the result of add has no text
  const wrong: string = done.result!.text;
  return [sum, upper, wrong];
}
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          // Task files are Node code: a project that has them has Node's types.
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          lib: ['ES2023', 'DOM'],
        },
        files: ['usage.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(tsc.status, 0, `tsc found type errors:\n${tsc.stdout}${tsc.stderr}`);
  });
});
