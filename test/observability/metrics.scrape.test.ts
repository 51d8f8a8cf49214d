import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/http/app.ts';
import { KeyStore } from '../../src/http/auth/keys.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { createTaskbus, type Taskbus } from '../../src/taskbus.ts';
import { MASTER } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';
import { parseMetrics, value } from './scrape.ts';

describe('metrics › GET /metrics', () => {
  let tb: Taskbus;
  let app: FastifyInstance;
  let metrics: Metrics;
  let hostKey: string;
  let fnKey: string;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });

  before(async () => {
    tb = await createTaskbus({
      db: ':memory:',
      logger: pino({ level: 'silent' }),
      tasks: {
        ok: async (b: { n: number }) => b.n,
        boom: {
          maxDeliveryCount: 2,
          backoff: { type: 'none' },
          handler: async () => {
            throw new Error('always');
          },
        },
        held: async () => gate,
      },
    });
    const keys = new KeyStore(tb.driver, tb.clock);
    await keys.init(MASTER);
    hostKey = (await keys.create({ label: 'h', scope: 'host' })).key;
    fnKey = (await keys.create({ label: 'f', scope: 'function', task: 'ok' })).key;
    metrics = new Metrics({ tb, defaultMetrics: false });
    app = await buildApp({ tb, keys, metrics: { metrics } });
  });
  after(async () => {
    release();
    metrics.close();
    await app.close();
    await tb.close(100);
  });

  const scrape = async (key = hostKey) => {
    const r = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parseMetrics(r.body);
  };
  const post = (name: string, body: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/${name}`,
      headers: { 'x-functions-key': MASTER, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  it('access › needs a host or master key; a function key or none gets 401 problem+json', async () => {
    const none = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['content-type'], 'application/problem+json; charset=utf-8');
    const fn = await app.inject({ method: 'GET', url: `/metrics?code=${fnKey}` });
    assert.equal(fn.statusCode, 401);
    await scrape(hostKey);
    await scrape(MASTER);
  });

  it('numbers move › enqueue, queue depth and HTTP requests by route and status', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) assert.equal((await post('ok', { n: i })).statusCode, 202);
    assert.equal((await post('nope', {})).statusCode, 404);
    const s = await scrape();
    assert.equal(value(s, 'taskbus_enqueued_total', { task: 'ok' }), 3);
    assert.equal(value(s, 'taskbus_messages', { task: 'ok', state: 'queued' }), 3);
    assert.equal(value(s, 'taskbus_messages', { task: 'ok', state: 'completed' }), 0);
    assert.ok(value(s, 'taskbus_queue_oldest_age_seconds', { task: 'ok' }) >= 0);
    const http = (status: string) => ({ method: 'POST', route: '/api/:name', status });
    assert.equal(
      value(s, 'taskbus_http_requests_total', http('202')) -
        value(before, 'taskbus_http_requests_total', http('202')),
      3,
    );
    assert.equal(value(s, 'taskbus_http_requests_total', http('404')), 1);
    assert.equal(value(s, 'taskbus_storage_up'), 1);
  });

  it('numbers move › completions, handler duration and queue latency once workers run', async () => {
    await tb.startWorkers();
    await waitFor(async () => (await tb.counts(['ok']))[0].completed === 3, 'three completions');
    await waitFor(() => tb.listenerCount('settled') > 0, 'metrics subscribed');
    const s = await waitFor(async () => {
      const x = await scrape();
      return value(x, 'taskbus_completed_total', { task: 'ok' }) === 3 ? x : null;
    }, 'completed_total 3');
    assert.equal(value(s, 'taskbus_messages', { task: 'ok', state: 'queued' }), 0);
    assert.equal(value(s, 'taskbus_messages', { task: 'ok', state: 'completed' }), 3);
    assert.equal(value(s, 'taskbus_handler_duration_seconds_count', { task: 'ok', outcome: 'complete' }), 3);
    assert.equal(value(s, 'taskbus_enqueue_to_start_seconds_count', { task: 'ok' }), 3);
    assert.equal(value(s, 'taskbus_enqueue_to_start_seconds_bucket', { task: 'ok', le: '+Inf' }), 3);
    assert.equal(value(s, 'taskbus_queue_oldest_age_seconds', { task: 'ok' }), 0);
  });

  it('numbers move › failed attempts and dead letters; running shows a handler in flight', async () => {
    assert.equal((await post('boom', {})).statusCode, 202);
    assert.equal((await post('held', {})).statusCode, 202);
    const s = await waitFor(async () => {
      const x = await scrape();
      return value(x, 'taskbus_deadlettered_total', { task: 'boom' }) === 1 &&
        value(x, 'taskbus_messages', { task: 'held', state: 'running' }) === 1
        ? x
        : null;
    }, 'boom dead-lettered and held running');
    assert.equal(value(s, 'taskbus_failed_total', { task: 'boom' }), 2);
    assert.equal(value(s, 'taskbus_messages', { task: 'boom', state: 'deadlettered' }), 1);
    assert.equal(value(s, 'taskbus_handler_duration_seconds_count', { task: 'boom', outcome: 'abandon' }), 1);
    assert.equal(
      value(s, 'taskbus_handler_duration_seconds_count', { task: 'boom', outcome: 'deadletter' }),
      1,
    );
    release();
    await waitFor(async () => {
      const x = await scrape();
      return value(x, 'taskbus_completed_total', { task: 'held' }) === 1;
    }, 'held completed');
  });

  it('numbers move › dead letters resubmitted and purged', async () => {
    const admin = (method: 'POST' | 'DELETE', url: string, payload?: string) =>
      app.inject({
        method,
        url,
        payload,
        headers: { 'x-functions-key': MASTER, ...(payload ? { 'content-type': 'application/json' } : {}) },
      });
    assert.equal(
      (await admin('POST', '/admin/tasks/boom/deadletter/resubmit', '{"all":true}')).statusCode,
      200,
    );
    // boom fails again: dead-lettered a second time after two more attempts.
    const s = await waitFor(async () => {
      const x = await scrape();
      return value(x, 'taskbus_deadlettered_total', { task: 'boom' }) === 2 ? x : null;
    }, 'boom dead-lettered again');
    assert.equal(value(s, 'taskbus_resubmitted_total', { task: 'boom' }), 1);
    assert.equal(value(s, 'taskbus_failed_total', { task: 'boom' }), 4);
    assert.equal((await admin('DELETE', '/admin/tasks/boom/deadletter')).statusCode, 200);
    const after = await scrape();
    assert.equal(value(after, 'taskbus_purged_total', { task: 'boom' }), 1);
    assert.equal(value(after, 'taskbus_messages', { task: 'boom', state: 'deadlettered' }), 0);
  });
});
