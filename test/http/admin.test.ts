import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MASTER, type TestApp, testApp } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';

const master = { 'x-functions-key': MASTER, 'content-type': 'application/json' };

describe('admin API', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({
      fails: {
        handler: async () => Promise.reject(new Error('always')),
        maxDeliveryCount: 2,
        backoff: { type: 'none' },
      },
      fine: async () => 'ok',
    });
  });
  after(() => t.close());

  const deadLettered = async (n: number) => {
    const ids = (
      await t.tb.enqueueMany(
        'fails',
        Array.from({ length: n }, (_, i) => ({ i })),
      )
    ).map((r) => r.id);
    await t.tb.startWorkers();
    await waitFor(async () => (await t.tb.counts(['fails']))[0].deadlettered >= n, 'dead letters');
    await t.tb.stopWorkers();
    return ids;
  };

  it('auth › every admin route needs the master key', async () => {
    const { key } = await t.keys.create({ label: 'h', scope: 'host' });
    for (const [method, url] of [
      ['GET', '/admin/tasks'],
      ['GET', '/admin/tasks/fine/messages'],
      ['POST', '/admin/tasks/fine/deadletter/resubmit'],
      ['DELETE', '/admin/tasks/fine/deadletter'],
      ['GET', '/admin/keys'],
      ['GET', '/admin/no-such-route'],
    ] as const) {
      const r = await t.app.inject({ method, url, headers: { 'x-functions-key': key } });
      assert.equal(r.statusCode, 401, `${method} ${url}`);
    }
    // With the master key the unknown path is a plain 404, and the task API is not behind it.
    const unknown = await t.app.inject({ method: 'GET', url: '/admin/no-such-route', headers: master });
    assert.equal(unknown.statusCode, 404);
    const task = await t.app.inject({
      method: 'POST',
      url: '/api/fine',
      headers: { 'x-functions-key': key },
      payload: {},
    });
    assert.equal(task.statusCode, 202);
  });

  it('tasks › lists each task type with its settings and counts per state', async () => {
    await t.tb.enqueue('fine', { a: 1 }, { delayMs: 60_000 });
    const r = await t.app.inject({ url: '/admin/tasks', headers: master });
    assert.equal(r.statusCode, 200);
    const fine = r.json().tasks.find((x: { name: string }) => x.name === 'fine');
    assert.equal(fine.settings.maxDeliveryCount, 10);
    assert.equal(fine.counts.scheduled, 1);
    assert.deepEqual(Object.keys(fine.counts), [
      'scheduled',
      'queued',
      'running',
      'completed',
      'deadlettered',
    ]);
  });

  it('browse › pages a state newest first; an unknown state is 400', async () => {
    const ids = (await t.tb.enqueueMany('fine', [1, 2, 3], { delayMs: 120_000 })).map((r) => r.id);
    const p1 = await t.app.inject({
      url: '/admin/tasks/fine/messages?state=scheduled&limit=2',
      headers: master,
    });
    assert.equal(p1.statusCode, 200);
    assert.deepEqual(
      p1.json().items.map((m: { id: string }) => m.id),
      [ids[2], ids[1]],
    );
    const p2 = await t.app.inject({
      url: `/admin/tasks/fine/messages?state=scheduled&limit=2&cursor=${p1.json().nextCursor}`,
      headers: master,
    });
    assert.equal(p2.json().items[0].id, ids[0]);
    const bad = await t.app.inject({ url: '/admin/tasks/fine/messages?state=done', headers: master });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().detail, /state must be one of/);
    assert.equal(
      (await t.app.inject({ url: '/admin/tasks/fine/messages?limit=5000', headers: master })).statusCode,
      400,
    );
  });

  it('resubmit and purge › move dead letters back by id or all, and purge the rest', async () => {
    const [a, b, c] = await deadLettered(3);
    const r = await t.app.inject({
      method: 'POST',
      url: '/admin/tasks/fails/deadletter/resubmit',
      headers: master,
      payload: JSON.stringify({ ids: [a, 'missing'] }),
    });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { resubmitted: 1, ids: [a], notFound: ['missing'] });
    const m = await t.tb.getTask(a);
    assert.equal(m!.state, 'queued');
    assert.equal(m!.deliveryCount, 0);
    assert.equal(m!.attempts.length, 2);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/tasks/fails/deadletter/resubmit',
      headers: master,
      payload: '{}',
    });
    assert.equal(bad.statusCode, 400);
    const purge = await t.app.inject({
      method: 'DELETE',
      url: '/admin/tasks/fails/deadletter',
      headers: master,
    });
    assert.deepEqual(purge.json(), { purged: 2 });
    assert.equal(await t.tb.getTask(b), null);
    assert.equal(await t.tb.getTask(c), null);
    assert.ok(await t.tb.getTask(a));
  });

  it('keys › create, list (never the key) and revoke', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: master,
      payload: JSON.stringify({ task: 'fine', label: 'billing' }),
    });
    assert.equal(created.statusCode, 201);
    const { id, key, scope } = created.json();
    assert.equal(scope, 'function');
    assert.match(key, /^tb_/);
    const list = await t.app.inject({ url: '/admin/keys', headers: master });
    assert.ok(!list.body.includes(key));
    assert.ok(
      list.json().keys.some((k: { id: string; hash?: string }) => k.id === id && k.hash === undefined),
    );
    const ok = await t.app.inject({ method: 'POST', url: '/api/fine', headers: { 'x-functions-key': key } });
    assert.equal(ok.statusCode, 202);
    assert.equal(
      (await t.app.inject({ method: 'DELETE', url: `/admin/keys/${id}`, headers: master })).statusCode,
      200,
    );
    assert.equal(
      (await t.app.inject({ method: 'POST', url: '/api/fine', headers: { 'x-functions-key': key } }))
        .statusCode,
      401,
    );
  });

  it('cancel › a scheduled task is cancelled; a completed one is 409', async () => {
    const { id } = await t.tb.enqueue('fine', null, { delayMs: 60_000 });
    const r = await t.app.inject({ method: 'POST', url: `/admin/messages/${id}/cancel`, headers: master });
    assert.equal(r.statusCode, 200);
    const again = await t.app.inject({
      method: 'POST',
      url: `/admin/messages/${id}/cancel`,
      headers: master,
    });
    assert.equal(again.statusCode, 409);
    const doc = await t.app.inject({ url: `/admin/messages/${id}`, headers: master });
    assert.equal(doc.json().deadLetterReason, 'Cancelled');
  });
});
