import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger, redactUrl } from '../../src/observability/logging.ts';
import { runCli, type ServerProcess, startProcess } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const MASTER = 'log-test-master-key-5f1c0e9a';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-logs-'));
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(
  join(tasks, 'hello.mjs'),
  `export default async function (body, ctx) {
  ctx.log.info('calling the mail API', { token: 'handler-token-7d1e', to: body.to });
  return { ok: true };
}`,
);
writeFileSync(
  join(tasks, 'fails.mjs'),
  `export default { maxDeliveryCount: 2, backoff: { type: 'none' }, handler: async () => {
  throw new Error('the downstream refused');
} };`,
);
writeFileSync(
  join(dir, 'taskbus.config.json'),
  JSON.stringify({ log: { requests: true }, rateLimits: { key: { limit: 1000, windowMs: 60000 } } }),
);
after(() => rmSync(dir, { recursive: true, force: true }));

function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('logs › a real server with a master key and a function key', () => {
  let s: ServerProcess;
  let fnKey: string;
  const db = join(dir, 'logs.db');
  before(async () => {
    const created = runCli(['keys', 'create', '--task', 'hello', '--db', db, '--tasks', tasks], { cwd: dir });
    assert.equal(created.code, 0, created.stderr);
    fnKey = created.json().key;
    s = await startProcess('start', ['--tasks', tasks, '--db', db], {
      cwd: dir,
      env: { TASKBUS_MASTER_KEY: MASTER, TASKBUS_LOG_LEVEL: 'debug' },
    });
  });
  after(() => s?.stop());

  it('never logs a key, while logging every request and every message event', async () => {
    const call = (path: string, init: RequestInit = {}) =>
      fetch(s.url + path, {
        ...init,
        headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      });
    const ok = await call(`/api/hello?code=${fnKey}`, { method: 'POST', body: '{"to":"ada@example.com"}' });
    assert.equal(ok.status, 202);
    const helloId = (await ok.json()).id;
    assert.equal(
      (await call('/api/hello', { method: 'POST', headers: { 'x-functions-key': fnKey }, body: '{}' }))
        .status,
      202,
    );
    const failing = await call('/api/fails', {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER}` },
      body: '{}',
    });
    assert.equal(failing.status, 202);
    const failsId = (await failing.json()).id;
    // Failing requests: wrong keys (near misses of the real ones), a function key on another
    // task, malformed JSON, an admin call with a function key.
    const refused = [
      await call(`/api/hello?code=${fnKey}x`, { method: 'POST', body: '{}' }),
      await call('/api/hello', { method: 'POST', headers: { 'x-functions-key': `${MASTER}-` }, body: '{}' }),
      await call(`/api/fails?code=${fnKey}`, { method: 'POST', body: '{}' }),
      await call(`/api/hello?code=${fnKey}`, { method: 'POST', body: '{"to":' }),
      await call(`/admin/tasks?code=${fnKey}`),
      await call(`/api/hello/tasks/not-an-id?code=${fnKey}`),
    ];
    assert.deepEqual(
      refused.map((r) => r.status),
      [401, 401, 401, 400, 401, 404],
    );
    assert.equal((await call(`/admin/tasks?code=${MASTER}`)).status, 200);
    assert.equal((await call(`/metrics?code=${MASTER}`)).status, 200);
    assert.equal((await call(`/openapi.json?code=${fnKey}`)).status, 200);
    await waitFor(async () => {
      const a = await (await call(`/api/hello/tasks/${helloId}?code=${fnKey}`)).json();
      const b = await (await call(`/api/fails/tasks/${failsId}?code=${MASTER}`)).json();
      return a.status === 'completed' && b.status === 'deadlettered';
    }, 'hello completed and fails dead-lettered');
    await s.stop();

    const out = s.output();
    for (const secret of [MASTER, fnKey, 'handler-token-7d1e']) {
      assert.ok(!out.includes(secret), `the log contains a secret: ${secret.slice(0, 12)}…`);
    }
    // Near misses are not printed either: a wrong key is often a real key with a typo.
    assert.ok(!out.includes(fnKey.slice(3, 20)), 'a wrong key was logged');

    const lines: Record<string, any>[] = [];
    for (const l of out.split('\n').filter(Boolean)) {
      try {
        lines.push(JSON.parse(l));
      } catch {
        assert.fail(`not a JSON log line (output is piped, so JSON): ${l.slice(0, 200)}`);
      }
    }
    const requests = lines.filter((l) => l.msg === 'request');
    assert.ok(requests.length >= 12, `${requests.length} access-log lines`);
    assert.ok(requests.some((l) => l.url === '/api/hello?code=***' && l.status === 202));
    assert.ok(requests.some((l) => l.route === '/api/:name' && l.status === 401));

    const aboutMessages = lines.filter((l) => l.messageId);
    assert.ok(aboutMessages.some((l) => l.msg === 'calling the mail API' && l.token === '[redacted]'));
    assert.ok(aboutMessages.some((l) => l.msg === 'attempt failed; will retry'));
    assert.ok(aboutMessages.some((l) => l.msg === 'dead-lettered'));
    for (const l of aboutMessages) {
      assert.equal(typeof l.task, 'string', JSON.stringify(l));
      assert.equal(typeof l.deliveryCount, 'number', JSON.stringify(l));
    }
  });
});

describe('logs › format and redaction', () => {
  it('pretty output for a terminal: readable lines, secrets still censored', () => {
    const c = collector();
    const log = createLogger({ level: 'info', pretty: true, destination: c.stream }, {});
    log.info({ task: 'hello', messageId: 'm1', deliveryCount: 2, key: 'sekrit-1' }, 'attempt failed');
    log.info({ url: '/api/hello?code=sekrit-2&x=1' }, 'request');
    const text = c.text();
    assert.match(text, /INFO.*attempt failed/);
    assert.match(text, /task: "hello"/);
    assert.match(text, /\/api\/hello\?code=\*\*\*&x=1/);
    assert.ok(!text.includes('sekrit'), text);
    assert.ok(!text.trimStart().startsWith('{'));
  });

  it('JSON otherwise: key fields and headers are censored wherever they sit', () => {
    const c = collector();
    const log = createLogger({ level: 'info', pretty: false, destination: c.stream }, {});
    log.info(
      {
        key: 'k1-secret',
        config: { password: 'p-secret' },
        req: { headers: { authorization: 'Bearer b-secret', 'x-functions-key': 'h-secret' } },
      },
      'x',
    );
    const line = JSON.parse(c.text());
    assert.equal(line.key, '[redacted]');
    assert.equal(line.config.password, '[redacted]');
    assert.equal(line.req.headers.authorization, '[redacted]');
    assert.equal(line.req.headers['x-functions-key'], '[redacted]');
    assert.ok(!c.text().includes('-secret'));
  });

  it('redactUrl › cuts every code parameter, keeps the rest', () => {
    assert.equal(redactUrl('/api/a?code=abc'), '/api/a?code=***');
    assert.equal(redactUrl('/api/a?x=1&CODE=abc&y=2'), '/api/a?x=1&CODE=***&y=2');
    assert.equal(redactUrl('/api/a?x=1'), '/api/a?x=1');
    assert.equal(redactUrl(undefined), undefined);
  });
});
