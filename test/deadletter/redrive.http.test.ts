// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.ts';
import { installDeadLetters } from '../../src/deadletter/install.ts';
import type { TaskContext, TaskExport } from '../../src/tasks/define.ts';
import { MASTER, type TestApp, testApp } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';

const master = { 'x-functions-key': MASTER, 'content-type': 'application/json' };
const HOUR = 3_600_000;

/** Dead-letters with the body's reason (ctx.deadLetter), or fails with its error until dead-lettered. */
const breaks: TaskExport = {
  maxDeliveryCount: 1,
  handler: async (b: { reason?: string; error: string }, ctx: TaskContext) => {
    if (b.reason) ctx.deadLetter(b.reason, b.error);
    throw new Error(b.error);
  },
};

describe('redrive over HTTP', () => {
  let t: TestApp;
  const clock = new ManualClock();
  const T0 = clock.now();
  const ids: Record<string, string> = {};

  /** Dead-letters one message now and returns its id. */
  async function deadLetter(key: string, name: string, body: Record<string, unknown>) {
    const { id } = await t.tb.enqueue(name, body);
    await waitFor(async () => (await t.tb.getTask(id))?.state === 'deadlettered', `${key} dead-lettered`);
    ids[key] = id;
  }

  before(async () => {
    t = await testApp({ orders: breaks, invoices: breaks, 'orders-v2': async () => 'ok' }, { clock });
    await t.tb.startWorkers();
    await deadLetter('a', 'orders', {
      region: 'eu',
      reason: 'InvalidInvoice',
      error: 'customer id is missing',
    });
    await deadLetter('b', 'orders', {
      region: 'us',
      reason: 'InvalidInvoice',
      error: 'customer id is missing',
    });
    clock.advance(HOUR);
    await deadLetter('c', 'orders', { region: 'eu', error: 'gateway timeout' });
    await deadLetter('d', 'invoices', { region: 'eu', reason: 'InvalidInvoice', error: 'bad total' });
    clock.advance(HOUR);
    await deadLetter('e', 'orders', {
      region: 'eu',
      reason: 'InvalidInvoice',
      error: 'customer id is missing',
    });
    await t.tb.stopWorkers();
  });
  after(() => t.close());

  const state = async (key: string) => (await t.tb.getTask(ids[key]))?.state ?? 'gone';
  const states = async () =>
    Object.fromEntries(await Promise.all(Object.keys(ids).map(async (k) => [k, await state(k)])));
  const post = (url: string, payload: unknown) =>
    t.app.inject({ method: 'POST', url, headers: master, payload });

  it('auth › the dead-letter routes need the master key', async () => {
    const { key } = await t.keys.create({ label: 'h', scope: 'host' });
    for (const [method, url] of [
      ['GET', '/admin/deadletter/rules/test'],
      ['GET', '/admin/deadletter/export'],
      ['POST', '/admin/deadletter/resubmit'],
      ['POST', '/admin/deadletter/purge'],
    ] as const) {
      const r = await t.app.inject({ method, url, headers: { 'x-functions-key': key } });
      assert.equal(r.statusCode, 401, `${method} ${url}`);
    }
  });

  it('resubmit › bad requests answer 400 naming the field, an unknown target 404', async () => {
    const none = await post('/admin/deadletter/resubmit', {});
    assert.equal(none.statusCode, 400);
    const regex = await post('/admin/deadletter/resubmit', { filter: { error: '(' } });
    assert.equal(regex.statusCode, 400);
    assert.equal(regex.json().field, 'filter.error');
    const since = await post('/admin/deadletter/resubmit', { filter: { since: 'last tuesday' } });
    assert.equal(since.json().field, 'filter.since');
    const target = await post('/admin/deadletter/resubmit', { all: true, toName: 'nope' });
    assert.equal(target.statusCode, 404);
    assert.deepEqual(await states(), {
      a: 'deadlettered',
      b: 'deadlettered',
      c: 'deadlettered',
      d: 'deadlettered',
      e: 'deadlettered',
    });
  });

  it('resubmit by filter › moves exactly the matching messages; history says who and which filter', async () => {
    const filter = { task: 'orders', reason: 'InvalidInvoice', body: { region: 'eu' } };
    const dry = await post('/admin/deadletter/resubmit', { filter, dryRun: true });
    assert.equal(dry.statusCode, 200);
    assert.deepEqual(dry.json().ids.sort(), [ids.a, ids.e].sort());
    assert.equal(await state('a'), 'deadlettered', 'a dry run moves nothing');

    const r = await post('/admin/deadletter/resubmit', { filter });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().resubmitted, 2);
    assert.deepEqual(await states(), {
      a: 'queued',
      b: 'deadlettered',
      c: 'deadlettered',
      d: 'deadlettered',
      e: 'queued',
    });
    const a = (await t.tb.getTask(ids.a))!;
    assert.equal(a.deadLetterReason, null);
    assert.equal(a.deliveryCount, 0);
    const [ev] = a.history.filter((h) => h.type === 'resubmitted');
    assert.equal(ev.at, clock.now());
    assert.deepEqual(ev.data, {
      reason: 'InvalidInvoice',
      description: 'customer id is missing',
      from: 'orders',
      to: 'orders',
      bodyEdited: false,
      by: 'admin-api',
      selection: 'filter',
      filter,
    });
  });

  it('resubmit by time range and error › with an edited body, to another task', async () => {
    const filter = {
      since: new Date(T0 + HOUR / 2).toISOString(),
      until: new Date(T0 + HOUR + 1).toISOString(),
      error: 'timeout$',
    };
    const r = await post('/admin/deadletter/resubmit', {
      filter,
      body: { region: 'eu', retried: true },
      toName: 'orders-v2',
    });
    assert.deepEqual(r.json().ids, [ids.c]);
    const c = (await t.tb.getTask(ids.c))!;
    assert.equal(c.name, 'orders-v2');
    assert.equal(c.state, 'queued');
    assert.deepEqual(JSON.parse((c.body as { json: string }).json), { region: 'eu', retried: true });
    const ev = c.history.find((h) => h.type === 'resubmitted')!;
    assert.equal(ev.data.to, 'orders-v2');
    assert.equal(ev.data.bodyEdited, true);
    assert.equal(await state('d'), 'deadlettered', 'd was in the time range but has another error');
  });

  it('resubmit by ids › across tasks, unknown ids reported', async () => {
    const missing = '01a2216b-db01-7000-a2a0-8fa42c286e94';
    const r = await post('/admin/deadletter/resubmit', { ids: [ids.d, missing], dryRun: true });
    assert.deepEqual(r.json(), { resubmitted: 1, ids: [ids.d], notFound: [missing], dryRun: true });
  });

  it('export › JSON lines of the DLQ, filtered', async () => {
    const all = await t.app.inject({ url: '/admin/deadletter/export', headers: master });
    assert.equal(all.statusCode, 200);
    assert.match(all.headers['content-type'] as string, /^application\/x-ndjson/);
    const lines = all.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.id).sort(), [ids.b, ids.d].sort());
    assert.equal(lines.find((l) => l.id === ids.b).attempts.length, 1);
    const one = await t.app.inject({
      url: '/admin/deadletter/export?task=invoices&bodyContains=%22region%22%3A%22eu%22',
      headers: master,
    });
    assert.deepEqual(
      one.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
      [ids.d],
    );
  });

  it('purge by filter › deletes exactly the matching messages', async () => {
    const r = await post('/admin/deadletter/purge', { filter: { body: { region: 'us' } } });
    assert.equal(r.json().purged, 1);
    assert.deepEqual(await states(), { a: 'queued', b: 'gone', c: 'queued', d: 'deadlettered', e: 'queued' });
  });
});

describe('dry run of the rules', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({ orders: breaks, remedy: async () => 'fixed' });
    installDeadLetters(t.tb, {
      smtp: { url: 'smtp://127.0.0.1:1' },
      deadLetters: {
        rules: [
          {
            name: 'remedy-certain',
            when: { bodyContains: '"taskType":"certainTaskType"' },
            then: { invoke: 'remedy' },
          },
          {
            name: 'tell-the-team',
            when: { reason: 'MaxDeliveryCountExceeded' },
            then: { email: { to: 'team@example.com' } },
          },
        ],
      },
    });
    await t.tb.startWorkers();
    for (const body of [
      { taskType: 'certainTaskType', error: 'x' },
      { taskType: 'other', error: 'y' },
      { taskType: 'other', reason: 'Rejected', error: 'z' },
    ]) {
      const { id } = await t.tb.enqueue('orders', body);
      await waitFor(async () => (await t.tb.getTask(id))?.state === 'deadlettered', 'dead-lettered');
    }
    await t.tb.stopWorkers();
  });
  after(() => t.close());

  it('GET /admin/deadletter/rules/test › shows the rule for each message and changes nothing', async () => {
    const snapshot = async () => ({
      counts: await t.tb.counts(),
      dlq: (await t.tb.browse('orders', 'deadlettered')).items.map((m) => [m.id, m.history.length, m.state]),
    });
    const before = await snapshot();
    const r = await t.app.inject({ url: '/admin/deadletter/rules/test', headers: master });
    assert.equal(r.statusCode, 200);
    const doc = r.json();
    assert.deepEqual(doc.rules, ['remedy-certain', 'tell-the-team']);
    const byType = Object.fromEntries(
      await Promise.all(
        doc.messages.map(async (m: { id: string; rule: string | null; actions: string[] }) => {
          const rec = (await t.tb.getTask(m.id))!;
          return [JSON.parse((rec.body as { json: string }).json).error, [m.rule, m.actions]];
        }),
      ),
    );
    assert.deepEqual(byType, {
      x: ['remedy-certain', ['invoke remedy']],
      y: ['tell-the-team', ['email team@example.com']],
      z: [null, []],
    });
    assert.deepEqual(doc.summary, { 'remedy-certain': 1, 'tell-the-team': 1, '(no rule)': 1 });
    assert.deepEqual(await snapshot(), before, 'nothing changed');
    const filtered = await t.app.inject({
      url: '/admin/deadletter/rules/test?reason=Rejected',
      headers: master,
    });
    assert.equal(filtered.json().messages.length, 1);
  });
});
