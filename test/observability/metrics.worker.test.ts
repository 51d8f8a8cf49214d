/**
 * `taskbus worker` has no HTTP API: it is scraped on `metrics.port`, where its handler counters
 * and durations are (a real worker process, a task enqueued through the CLI).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, runCli, type ServerProcess, startProcess } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';
import { parseMetrics, value } from './scrape.ts';

const MASTER = 'worker-metrics-master-key-77';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-wmetrics-'));
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(join(tasks, 'hello.mjs'), 'export default async (b) => ({ hello: b?.name ?? "world" });');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('metrics › taskbus worker on metrics.port', () => {
  let w: ServerProcess;
  let port: number;
  const db = join(dir, 'w.db');
  before(async () => {
    port = await freePort();
    writeFileSync(join(dir, 'taskbus.config.json'), JSON.stringify({ metrics: { port, process: false } }));
    assert.equal(runCli(['migrate', '--db', db], { cwd: dir }).code, 0);
    w = await startProcess('worker', ['--tasks', tasks, '--db', db], {
      cwd: dir,
      env: { TASKBUS_MASTER_KEY: MASTER },
    });
  });
  after(() => w?.stop());

  const scrape = (headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${port}/metrics`, { headers });

  it('needs a host or master key; counts the handlers this worker ran', async () => {
    assert.equal((await scrape()).status, 401);
    const host = runCli(['keys', 'create', '--host', '--db', db], { cwd: dir }).json().key;
    assert.equal((await scrape({ authorization: `Bearer ${host}` })).status, 200);
    assert.equal(runCli(['enqueue', 'hello', '{"name":"Ada"}', '--db', db], { cwd: dir }).code, 0);
    const s = await waitFor(async () => {
      const r = await scrape({ 'x-functions-key': MASTER });
      const x = parseMetrics(await r.text());
      return value(x, 'taskbus_completed_total', { task: 'hello' }) === 1 ? x : null;
    }, 'the worker to report one completion');
    assert.equal(
      value(s, 'taskbus_handler_duration_seconds_count', { task: 'hello', outcome: 'complete' }),
      1,
    );
    assert.equal(value(s, 'taskbus_messages', { task: 'hello', state: 'completed' }), 1);
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
  });
});
