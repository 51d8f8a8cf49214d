import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MASTER, type TestApp, testApp } from '../support/app.ts';

const json = { 'content-type': 'application/json' };
const master = { 'x-functions-key': MASTER };

describe('HTTP trigger', () => {
  let t: TestApp;
  let fnKey: string;
  let hostKey: string;
  before(async () => {
    t = await testApp(
      {
        invoice: {
          handler: async () => 'ok',
          schema: {
            type: 'object',
            required: ['customer', 'items'],
            properties: {
              customer: { type: 'string' },
              items: {
                type: 'array',
                items: { type: 'object', properties: { quantity: { type: 'integer' } } },
              },
            },
          },
        },
        other: async () => 'ok',
        open: { handler: async () => 'ok', auth: 'anonymous' },
        secret: { handler: async () => 'ok', auth: 'admin' },
      },
      { bodyLimit: 1024 },
    );
    fnKey = (await t.keys.create({ label: 'f', scope: 'function', task: 'other' })).key;
    hostKey = (await t.keys.create({ label: 'h', scope: 'host' })).key;
  });
  after(() => t.close());

  const post = (url: string, payload?: string | Buffer, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, payload, headers: { ...master, ...json, ...headers } });

  it('POST › answers 202 with id, statusUrl and Location once the message is stored', async () => {
    const r = await post('/api/other', '{"a":1}');
    assert.equal(r.statusCode, 202);
    const b = r.json();
    assert.equal(b.name, 'other');
    assert.equal(b.status, 'queued');
    assert.equal(b.statusUrl, `/api/other/tasks/${b.id}`);
    assert.equal(r.headers.location, b.statusUrl);
    const m = await t.tb.getTask(b.id);
    assert.deepEqual(JSON.parse((m!.body as { json: string }).json), { a: 1 });
  });

  it('POST › stores a non-JSON body as bytes with its content type; an empty body is null', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]);
    const r = await post('/api/other', png, { 'content-type': 'image/png' });
    assert.equal(r.statusCode, 202);
    const m = await t.tb.getTask(r.json().id);
    assert.deepEqual(m!.body, { kind: 'bytes', bytes: png, contentType: 'image/png' });
    const doc = (await t.app.inject({ url: r.json().statusUrl, headers: master })).json();
    assert.deepEqual(doc.body, { contentType: 'image/png', size: 7, base64: png.toString('base64') });
    const e = await t.app.inject({ method: 'POST', url: '/api/other', headers: master });
    assert.equal(e.statusCode, 202);
    assert.equal((await t.tb.getTask(e.json().id))!.body.kind, 'json');
    const vendor = await post('/api/other', '{"v":2}', {
      'content-type': 'application/vnd.acme+json; charset=utf-8',
    });
    assert.deepEqual(JSON.parse(((await t.tb.getTask(vendor.json().id))!.body as { json: string }).json), {
      v: 2,
    });
    const withCharset = await post('/api/other', '{"v":3}', {
      'content-type': 'application/json; charset=utf-8',
    });
    const stored = (await t.tb.getTask(withCharset.json().id))!.body as { json: string };
    assert.deepEqual(JSON.parse(stored.json), { v: 3 });
  });

  it('keys › header, ?code= and Bearer are accepted; the header wins; white space is ignored', async () => {
    const h = { 'content-type': 'application/json' };
    const go = (url: string, headers: Record<string, string>) =>
      t.app.inject({ method: 'POST', url, payload: '{}', headers: { ...h, ...headers } });
    assert.equal((await go('/api/other', { 'x-functions-key': `  ${fnKey} ` })).statusCode, 202);
    assert.equal((await go(`/api/other?code=${fnKey}`, {})).statusCode, 202);
    assert.equal((await go('/api/other', { authorization: `Bearer ${fnKey}` })).statusCode, 202);
    assert.equal(
      (await go(`/api/other?code=${fnKey}`, { 'x-functions-key': 'wrong' })).statusCode,
      401,
      'header wins',
    );
  });

  it('keys › a function key opens one task, a host key every task, the master key admin tasks too', async () => {
    const go = (name: string, key: string) => post(`/api/${name}`, '{}', { 'x-functions-key': key });
    assert.equal((await go('other', fnKey)).statusCode, 202);
    assert.equal((await go('invoice', fnKey)).statusCode, 401);
    assert.equal((await go('other', hostKey)).statusCode, 202);
    assert.equal((await go('secret', hostKey)).statusCode, 401);
    assert.equal((await go('secret', MASTER)).statusCode, 202);
    const anon = await t.app.inject({ method: 'POST', url: '/api/open', payload: '{}', headers: json });
    assert.equal(anon.statusCode, 202, 'anonymous needs no key');
  });

  it('keys › no or wrong key is 401 whether or not the task exists; with a valid key an unknown task is 404', async () => {
    for (const name of ['other', 'nope']) {
      const none = await t.app.inject({ method: 'POST', url: `/api/${name}`, payload: '{}', headers: json });
      assert.equal(none.statusCode, 401);
      assert.equal(none.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.deepEqual(Object.keys(none.json()).sort(), ['code', 'detail', 'status', 'title', 'type']);
      const wrong = await post(`/api/${name}`, '{}', { 'x-functions-key': 'wrong' });
      assert.equal(wrong.statusCode, 401);
      assert.equal(wrong.body, none.body, 'the same answer: names do not leak');
    }
    assert.equal((await post('/api/nope', '{}', { 'x-functions-key': fnKey })).statusCode, 401);
    assert.equal((await post('/api/nope', '{}', { 'x-functions-key': hostKey })).statusCode, 404);
    assert.equal((await post('/api/nope', '{}')).json().status, 404);
  });

  it('keys › a revoked key stops working', async () => {
    const { key, record } = await t.keys.create({ label: 'tmp', scope: 'host' });
    assert.equal((await post('/api/other', '{}', { 'x-functions-key': key })).statusCode, 202);
    await t.keys.revoke(record.id);
    assert.equal((await post('/api/other', '{}', { 'x-functions-key': key })).statusCode, 401);
  });

  it('bad input › malformed JSON is 400, a body over the limit is 413, and nothing is stored', async () => {
    const before = (await t.tb.counts(['invoice']))[0]?.queued ?? 0;
    const bad = await post('/api/invoice', '{"customer":');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'MALFORMED_JSON');
    const big = await post('/api/invoice', JSON.stringify({ customer: 'x'.repeat(2000), items: [] }));
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().title, 'Body too large');
    assert.equal((await t.tb.counts(['invoice']))[0]?.queued ?? 0, before);
  });

  it('bad input › a body failing the schema is 422 naming the failing path', async () => {
    const r = await post('/api/invoice', JSON.stringify({ customer: 'acme', items: [{ quantity: 1.5 }] }));
    assert.equal(r.statusCode, 422);
    assert.match(r.json().detail, /body\.items\.0\.quantity must be integer/);
    assert.deepEqual(r.json().errors[0].path, 'body.items.0.quantity');
    const missing = await post('/api/invoice', '{}');
    assert.equal(missing.statusCode, 422);
    assert.match(missing.json().detail, /body\.customer must have required property/);
    assert.equal(
      (await post('/api/invoice', JSON.stringify({ customer: 'acme', items: [] }))).statusCode,
      202,
    );
  });

  it('options › bad option headers are 400 naming the header', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'taskbus-delay-ms': '-5' }, 'Taskbus-Delay-Ms'],
      [{ 'taskbus-delay-ms': 'soon' }, 'Taskbus-Delay-Ms'],
      [{ 'taskbus-delay-ms': String(367 * 86_400_000) }, 'Taskbus-Delay-Ms'],
      [{ 'taskbus-scheduled-for': 'tomorrow' }, 'Taskbus-Scheduled-For'],
      [{ 'taskbus-scheduled-for': '2999-01-01T00:00:00Z' }, 'Taskbus-Scheduled-For'],
      [{ 'taskbus-ttl-ms': '0' }, 'Taskbus-TTL-Ms'],
      [{ 'idempotency-key': 'k'.repeat(257) }, 'Idempotency-Key'],
    ];
    for (const [h, name] of cases) {
      const r = await post('/api/other', '{}', h);
      assert.equal(r.statusCode, 400, JSON.stringify(h));
      assert.match(r.json().detail, new RegExp(name));
    }
  });

  it('options › a delay schedules; a past Taskbus-Scheduled-For means now; TTL is stored', async () => {
    const d = await post('/api/other', '{}', { 'taskbus-delay-ms': '60000', 'taskbus-ttl-ms': '120000' });
    assert.equal(d.json().status, 'scheduled');
    const m = await t.tb.getTask(d.json().id);
    assert.equal(m!.visibleAt - m!.enqueuedAt, 60_000);
    assert.equal(m!.expiresAt! - m!.enqueuedAt, 120_000);
    const doc = (await t.app.inject({ url: d.json().statusUrl, headers: master })).json();
    assert.equal(doc.status, 'scheduled');
    assert.equal(doc.nextAttemptAt, doc.scheduledFor);
    const past = await post('/api/other', '{}', { 'taskbus-scheduled-for': '2001-01-01T00:00:00Z' });
    assert.equal(past.json().status, 'queued');
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const fut = await post('/api/other', '{}', { 'taskbus-scheduled-for': at });
    assert.equal((await t.tb.getTask(fut.json().id))!.visibleAt, Date.parse(at));
  });

  it('idempotency › a repeat within 24 h answers 200 with the first task and enqueues nothing', async () => {
    const a = await post('/api/other', '{"n":1}', { 'idempotency-key': 'order-42' });
    const b = await post('/api/other', '{"n":2}', { 'idempotency-key': 'order-42' });
    assert.equal(a.statusCode, 202);
    assert.equal(b.statusCode, 200);
    assert.deepEqual(b.json(), a.json());
    const m = await t.tb.getTask(a.json().id);
    assert.deepEqual(JSON.parse((m!.body as { json: string }).json), { n: 1 }, 'first wins');
    const c = await post('/api/invoice', JSON.stringify({ customer: 'x', items: [] }), {
      'idempotency-key': 'order-42',
    });
    assert.equal(c.statusCode, 202, 'scoped to the task name');
  });

  it('status › GET answers the status document; an id of another task is 404', async () => {
    const r = await post('/api/other', '{"x":1}');
    const doc = await t.app.inject({ url: r.json().statusUrl, headers: { 'x-functions-key': fnKey } });
    assert.equal(doc.statusCode, 200);
    const d = doc.json();
    for (const k of [
      'id',
      'name',
      'status',
      'body',
      'result',
      'deliveryCount',
      'enqueuedAt',
      'scheduledFor',
      'completedAt',
      'deadLetterReason',
      'deadLetterErrorDescription',
      'attempts',
    ]) {
      assert.ok(k in d, k);
    }
    assert.deepEqual(d.body, { x: 1 });
    assert.equal(
      (await t.app.inject({ url: `/api/invoice/tasks/${d.id}`, headers: master })).statusCode,
      404,
    );
    assert.equal(
      (await t.app.inject({ url: '/api/other/tasks/not-an-id', headers: master })).statusCode,
      404,
    );
  });

  it('storage down › 503, never 202', async () => {
    const s = await testApp({ x: async () => 1 });
    const original = s.tb.driver.enqueue.bind(s.tb.driver);
    s.tb.driver.enqueue = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    };
    const r = await s.app.inject({
      method: 'POST',
      url: '/api/x',
      payload: '{}',
      headers: { ...master, ...json },
    });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().code, 'STORAGE_UNAVAILABLE');
    s.tb.driver.enqueue = original;
    await s.close();
  });

  it('routes › an unknown route is a 404 problem', async () => {
    const r = await t.app.inject({ url: '/nowhere' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().code, 'ROUTE_NOT_FOUND');
  });

  it('health › /healthz and /readyz answer without a key', async () => {
    assert.equal((await t.app.inject({ url: '/healthz' })).statusCode, 200);
    const r = await t.app.inject({ url: '/readyz' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().storage, 'sqlite');
  });
});
