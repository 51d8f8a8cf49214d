import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { createTaskbus } from '../../src/taskbus.ts';
import { runCli, startProcess } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'cli.db');
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(join(tasks, 'greet.mjs'), 'export default async (b) => "hi " + b.name;');
writeFileSync(
  join(tasks, 'broken.mjs'),
  "export default { maxDeliveryCount: 1, handler: async () => { throw new Error('nope'); } };",
);

describe('taskbus CLI (real binary)', () => {
  it('migrate › creates the schema', () => {
    const r = runCli(['migrate', '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json(), { migrated: true, storage: 'sqlite' });
  });

  it('enqueue and status › store a task and show it', () => {
    const e = runCli(['enqueue', 'greet', '{"name":"Lin"}', '--db', db, '--tasks', tasks]);
    assert.equal(e.code, 0, e.stderr);
    const { id, created } = e.json();
    assert.equal(created, true);
    const s = runCli(['status', id, '--db', db]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.json().status, 'queued');
    assert.deepEqual(s.json().body, { name: 'Lin' });
  });

  it('enqueue › bad JSON and an unknown id fail with a clear message and a non-zero exit', () => {
    const bad = runCli(['enqueue', 'greet', '{oops', '--db', db]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not valid JSON/);
    const missing = runCli(['status', '01a2216b-db01-7000-a2a0-8fa42c286e94', '--db', db]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no task with id/);
    const badName = runCli(['enqueue', 'Not A Name', '--db', db]);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /no task named/);
  });

  it('keys › create prints a key once; it opens the task over HTTP; list hides it; revoke closes it', async () => {
    const c = runCli(['keys', 'create', '--task', 'greet', '--label', 'app', '--db', db]);
    assert.equal(c.code, 0, c.stderr);
    const { id, key } = c.json();
    const l = runCli(['keys', 'list', '--db', db]);
    assert.ok(!l.stdout.includes(key));
    assert.equal(l.json()[0].label, 'app');
    const server = await startProcess('api', ['--tasks', tasks, '--db', db], {
      env: { TASKBUS_MASTER_KEY: 'cli-master-0123456789' },
    });
    try {
      const ok = await fetch(`${server.url}/api/greet`, {
        method: 'POST',
        headers: { 'x-functions-key': key },
        body: '',
      });
      assert.equal(ok.status, 202);
      const r = runCli(['keys', 'revoke', id, '--db', db]);
      assert.equal(r.code, 0, r.stderr);
      // The API process caches a key lookup for up to 5 s; a new process sees the revoke at once.
    } finally {
      await server.stop();
    }
    const again = await startProcess('api', ['--tasks', tasks, '--db', db], {
      env: { TASKBUS_MASTER_KEY: 'cli-master-0123456789' },
    });
    try {
      const no = await fetch(`${again.url}/api/greet`, {
        method: 'POST',
        headers: { 'x-functions-key': key },
      });
      assert.equal(no.status, 401);
    } finally {
      await again.stop();
    }
  });

  it('dlq › list, show, resubmit and purge dead-lettered tasks', async () => {
    const tb = await createTaskbus({ tasks, db, logger: pino({ level: 'silent' }) });
    const [a, b] = (await tb.enqueueMany('broken', [{ n: 1 }, { n: 2 }])).map((r) => r.id);
    await tb.startWorkers();
    await waitFor(async () => (await tb.counts(['broken']))[0].deadlettered === 2, 'dead letters');
    await tb.close();
    const list = runCli(['dlq', 'list', 'broken', '--db', db]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      list
        .json()
        .map((m: { id: string }) => m.id)
        .sort(),
      [a, b].sort(),
    );
    assert.equal(list.json()[0].deadLetterReason, 'MaxDeliveryCountExceeded');
    const show = runCli(['dlq', 'show', a, '--db', db]);
    assert.equal(show.json().attempts[0].error.message, 'nope');
    const re = runCli(['dlq', 'resubmit', 'broken', a, '--db', db]);
    assert.equal(re.json().resubmitted, 1);
    const noConfirm = runCli(['dlq', 'purge', 'broken', '--db', db]);
    assert.notEqual(noConfirm.code, 0);
    assert.match(noConfirm.stderr, /--yes/);
    const purge = runCli(['dlq', 'purge', 'broken', '--yes', '--db', db]);
    assert.deepEqual(purge.json(), { purged: 1 });
    assert.equal(runCli(['status', a, '--db', db]).json().status, 'queued');
  });

  it('api and worker › separate processes share one SQLite file; the worker runs until a signal', async () => {
    const shared = join(dir, 'split.db');
    const env = { TASKBUS_MASTER_KEY: 'split-master-0123456789' };
    const api = await startProcess('api', ['--tasks', tasks, '--db', shared], { env });
    const worker = await startProcess('worker', ['--tasks', tasks, '--db', shared], { env });
    try {
      const r = await fetch(`${api.url}/api/greet`, {
        method: 'POST',
        headers: { 'x-functions-key': env.TASKBUS_MASTER_KEY, 'content-type': 'application/json' },
        body: '{"name":"Bo"}',
      });
      assert.equal(r.status, 202);
      const { statusUrl } = await r.json();
      const doc = await waitFor(async () => {
        const d = await (
          await fetch(api.url + statusUrl, { headers: { 'x-functions-key': env.TASKBUS_MASTER_KEY } })
        ).json();
        return d.status === 'completed' ? d : null;
      }, 'the worker process to complete the task');
      assert.equal(doc.result, 'hi Bo');
      assert.equal(worker.child.exitCode, null, 'the worker is still running');
      assert.match(worker.output(), /single-host/);
    } finally {
      await worker.stop();
      await api.stop();
    }
    assert.equal(worker.child.exitCode, 0, 'a graceful exit on SIGTERM');
  });

  it('start › a bad task file stops the start with a message naming the file', () => {
    const bad = join(dir, 'bad-tasks');
    mkdirSync(bad);
    writeFileSync(join(bad, 'oops.mjs'), 'export default { handler: async () => 1, concurrency: -1 };');
    const r = runCli(['start', '--tasks', bad, '--db', join(dir, 'bad.db'), '--port', '0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /oops\.mjs: concurrency must be an integer/);
  });
});
