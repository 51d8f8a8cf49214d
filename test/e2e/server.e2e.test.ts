import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerProcess, startProcess } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const KEY = 'e2e-master-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-e2e-'));
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(
  join(tasks, 'hello.mjs'),
  'export default async function (body) { return { hello: body?.name ?? "world" }; }',
);
// Fails until the file named in the body exists: the "fix" a resubmit then picks up.
writeFileSync(
  join(tasks, 'fragile.mjs'),
  `import { existsSync } from 'node:fs';
export default { maxDeliveryCount: 2, backoff: { type: 'none' }, handler: async (b) => {
  if (!existsSync(b.marker)) throw new Error('the marker is missing');
  return 'fixed';
} };`,
);
writeFileSync(
  join(tasks, 'slow.mjs'),
  `export default { lockDurationMs: 1500, concurrency: 8, handler: async (b) => {
  await new Promise((r) => setTimeout(r, 100));
  return b.n;
} };`,
);
after(() => rmSync(dir, { recursive: true, force: true }));

const headers = { 'x-functions-key': KEY, 'content-type': 'application/json' };

async function poll(url: string, path: string, want: string) {
  return waitFor(async () => {
    const doc = await (await fetch(url + path, { headers })).json();
    return doc.status === want ? doc : null;
  }, `${path} ${want}`);
}

describe('taskbus start (real server process)', () => {
  let s: ServerProcess;
  const db = join(dir, 'e2e.db');
  before(async () => {
    s = await startProcess('start', ['--tasks', tasks, '--db', db], { env: { TASKBUS_MASTER_KEY: KEY } });
  });
  after(() => s?.stop());

  it('seed flow › a task posted over HTTP completes and its status URL shows the result', async () => {
    const r = await fetch(`${s.url}/api/hello`, { method: 'POST', headers, body: '{"name":"Ada"}' });
    assert.equal(r.status, 202);
    const { statusUrl } = await r.json();
    assert.equal(r.headers.get('location'), statusUrl);
    const doc = await poll(s.url, statusUrl, 'completed');
    assert.deepEqual(doc.result, { hello: 'Ada' });
  });

  it('dead letters › a failing task is retried, dead-lettered, resubmitted after the fix, and completes', async () => {
    const marker = join(dir, 'marker');
    const r = await fetch(`${s.url}/api/fragile`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ marker }),
    });
    const { id, statusUrl } = await r.json();
    const dead = await poll(s.url, statusUrl, 'deadlettered');
    assert.equal(dead.deadLetterReason, 'MaxDeliveryCountExceeded');
    assert.equal(dead.deadLetterErrorDescription, 'Error: the marker is missing');
    assert.equal(dead.attempts.length, 2);
    const dlq = await (
      await fetch(`${s.url}/admin/tasks/fragile/messages?state=deadlettered`, { headers })
    ).json();
    assert.ok(dlq.items.some((m: { id: string }) => m.id === id));
    writeFileSync(marker, 'fixed');
    const re = await fetch(`${s.url}/admin/tasks/fragile/deadletter/resubmit`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ids: [id] }),
    });
    assert.equal((await re.json()).resubmitted, 1);
    const done = await poll(s.url, statusUrl, 'completed');
    assert.equal(done.result, 'fixed');
    assert.deepEqual(
      done.attempts.map((a: { number: number }) => a.number),
      [1, 2, 3],
    );
    assert.equal(done.history[0].type, 'resubmitted');
  });

  it('idempotency and scheduling › a repeat returns the first task; a delayed task waits, then runs', async () => {
    const h = { ...headers, 'idempotency-key': 'e2e-1' };
    const a = await fetch(`${s.url}/api/hello`, { method: 'POST', headers: h, body: '{"name":"one"}' });
    const b = await fetch(`${s.url}/api/hello`, { method: 'POST', headers: h, body: '{"name":"two"}' });
    assert.equal(a.status, 202);
    assert.equal(b.status, 200);
    assert.equal((await b.json()).id, (await a.json()).id);
    const d = await fetch(`${s.url}/api/hello`, {
      method: 'POST',
      headers: { ...headers, 'taskbus-delay-ms': '400' },
      body: '{}',
    });
    const { statusUrl, status } = await d.json();
    assert.equal(status, 'scheduled');
    const doc = await poll(s.url, statusUrl, 'completed');
    assert.ok(Date.parse(doc.attempts[0].startedAt) >= Date.parse(doc.enqueuedAt) + 400);
  });
});

describe('taskbus start › kill -9', () => {
  it('restart › every task that got a 202 before the server was killed completes after a restart', async () => {
    const db = join(dir, 'kill.db');
    const env = { TASKBUS_MASTER_KEY: KEY };
    const first = await startProcess('start', ['--tasks', tasks, '--db', db], { env });
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await fetch(`${first.url}/api/slow`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ n: i }),
      });
      assert.equal(r.status, 202);
      ids.push((await r.json()).id);
    }
    await waitFor(async () => {
      const doc = await (await fetch(`${first.url}/admin/tasks`, { headers })).json();
      return doc.tasks.find((t: { name: string }) => t.name === 'slow').counts.running > 0;
    }, 'tasks to be running');
    await first.kill9();
    const second = await startProcess('start', ['--tasks', tasks, '--db', db], { env });
    try {
      for (const id of ids) {
        const doc = await poll(second.url, `/api/slow/tasks/${id}`, 'completed');
        assert.equal(typeof doc.result, 'number');
      }
    } finally {
      await second.stop();
    }
  });
});
