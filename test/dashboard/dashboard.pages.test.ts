/**
 * Dashboard pages and actions over HTTP (inject): what each page shows, paging, search and
 * sort, and that every action does what it says and is recorded in the task's history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '../../src/id.ts';
import { Client, type DashboardApp, dashboardApp, deadLetters } from './support.ts';

/** Text of the element with this id (tags stripped, white space collapsed). */
function textOf(body: string, id: string): string {
  const start = body.indexOf(`id="${id}"`);
  if (start < 0) return '';
  const open = body.indexOf('>', start) + 1;
  const tag = body.lastIndexOf('<', start);
  const name = /^<(\w+)/.exec(body.slice(tag))![1];
  const close = body.indexOf(`</${name}>`, open);
  return body
    .slice(open, close)
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const rowIds = (body: string) => [...body.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]);

describe('dashboard pages', () => {
  let t: DashboardApp;
  let c: Client;
  before(async () => {
    t = await dashboardApp({
      fails: {
        handler: async (b: { n: number }) => Promise.reject(new TypeError(`broken ${b.n}`)),
        maxDeliveryCount: 2,
        backoff: { type: 'none' },
        description: 'Always fails',
      },
      doomed: {
        handler: async () => Promise.reject(new Error('doomed')),
        maxDeliveryCount: 1,
      },
      later: async () => 'ok',
    });
    c = new Client(t.app);
    await c.login();
  });
  after(() => t.close());

  it('overview › counts per state, the DLQ standing out, oldest queued age and the last hour', async () => {
    await deadLetters(t.tb, 'fails', [{ n: 0 }]);
    await t.tb.enqueue('later', {}, { delayMs: 60_000 });
    const r = await c.get('/');
    assert.equal(r.statusCode, 200);
    assert.equal(textOf(r.body, 'count-fails-deadlettered'), '1');
    assert.match(r.body, /id="count-fails-deadlettered" data-state="deadlettered" class="alert"/);
    assert.match(r.body, /class="card alert" id="card-deadlettered"/);
    assert.equal(textOf(r.body, 'count-later-scheduled'), '1');
    assert.match(r.body, /aria-label="Last hour: 0 completed, 2 failed attempts \(100%\), 1 dead-lettered"/);
    assert.match(r.body, /<rect class="bad"/);
    assert.doesNotMatch(r.body, /\$deadletter/, 'internal tasks are not shown');
    // The live part alone, as htmx asks for it.
    const live = await c.get('/', { 'hx-request': 'true', 'hx-target': 'overview' });
    assert.match(live.body, /^<section id="overview" hx-get="\/" hx-trigger="every 200ms"/);
    assert.doesNotMatch(live.body, /<html/);
  });

  it('overview › the age of the oldest queued message', async () => {
    const tb2 = await dashboardApp({ slowpoke: async () => 'ok' });
    try {
      await tb2.tb.enqueue('slowpoke', {});
      const r = await tb2.app.inject({
        url: '/',
        headers: { 'x-functions-key': 'dashboard-master-key-0123456789' },
      });
      assert.equal(textOf(r.body, 'count-slowpoke-queued'), '1');
      assert.match(
        r.body,
        /id="card-oldest"><div class="muted">Oldest queued<\/div><div class="v" data-value>\d+ (ms|s)</,
      );
    } finally {
      await tb2.close();
    }
  });

  it('queue › browses one state newest first, 50 a page, with a cursor', async () => {
    const ids = (
      await t.tb.enqueueMany(
        'later',
        Array.from({ length: 60 }, (_, i) => ({ i })),
        { delayMs: 600_000 },
      )
    ).map((r) => r.id);
    const first = await c.get('/dashboard/tasks/later?state=scheduled');
    assert.equal(first.statusCode, 200);
    const page1 = rowIds(first.body);
    assert.equal(page1.length, 50);
    assert.equal(page1[0], ids[59]);
    const next = /id="next-page" href="([^"]+)"/.exec(first.body)![1].replaceAll('&amp;', '&');
    const second = await c.get(next);
    const page2 = rowIds(second.body);
    assert.equal(page2.length, 11, 'the 10 oldest and the one scheduled earlier');
    assert.equal(new Set([...page1, ...page2]).size, 61);
    assert.doesNotMatch(second.body, /id="next-page"/);
    assert.match(textOf(first.body, 'tab-scheduled'), /scheduled 61/);
  });

  it('queue › sorts oldest first, searches body text and ids, and jumps to a whole id', async () => {
    const oldest = await c.get('/dashboard/tasks/later?state=scheduled&order=oldest');
    const rows = rowIds(oldest.body);
    const all = (await t.tb.browse('later', 'scheduled', { limit: 100 })).items.map((m) => m.id);
    assert.deepEqual(rows, all.reverse().slice(0, 50));
    const found = await c.get('/dashboard/tasks/later?state=scheduled&q=%22i%22%3A42%7D');
    assert.equal(rowIds(found.body).length, 1);
    const m42 = rowIds(found.body)[0];
    assert.deepEqual((await t.tb.getTask(m42))!.body, { kind: 'json', json: '{"i":42}' });
    const prefix = await c.get(`/dashboard/tasks/later?state=scheduled&q=${m42.slice(0, 23)}`);
    assert.ok(rowIds(prefix.body).includes(m42));
    const whole = await c.get(`/dashboard/tasks/later?state=deadlettered&q=${m42}`);
    assert.equal(whole.statusCode, 303, 'a whole id opens the task whatever the state tab');
    assert.equal(whole.headers.location, `/dashboard/messages/${m42}`);
    const none = await c.get('/dashboard/tasks/later?state=scheduled&q=nothing-like-this');
    assert.match(none.body, /id="empty">No scheduled messages match “nothing-like-this”/);
  });

  it('queue › unknown tasks and bad parameters get an error page', async () => {
    assert.equal((await c.get('/dashboard/tasks/nope')).statusCode, 404);
    assert.equal((await c.get('/dashboard/tasks/%24deadletter')).statusCode, 404);
    const bad = await c.get('/dashboard/tasks/later?state=lost');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /state must be one of/);
    assert.equal((await c.get(`/dashboard/messages/${newId()}`)).statusCode, 404);
  });

  it('task › body, attempts with error, stack, duration and worker, the reason, and rule events', async () => {
    const [id] = await deadLetters(t.tb, 'fails', [{ n: 7, note: '<img src=x onerror=alert(1)>' }]);
    const at = t.tb.clock.now();
    await t.tb.driver.addHistory({
      id,
      event: {
        at,
        type: 'rule.matched',
        data: { rule: 'page-oncall', mode: 'peek', actions: ['webhook https://x'] },
      },
    });
    await t.tb.driver.addHistory({
      id,
      event: {
        at: at + 1,
        type: 'rule.action',
        data: {
          rule: 'page-oncall',
          action: 0,
          type: 'webhook',
          status: 'failed',
          error: 'HTTP 503',
          willRetry: true,
        },
      },
    });
    const r = await c.get(`/dashboard/messages/${id}`);
    assert.equal(r.statusCode, 200);
    assert.equal(textOf(r.body, 'dl-reason'), 'MaxDeliveryCountExceeded');
    assert.equal(textOf(r.body, 'dl-description'), 'TypeError: broken 7');
    assert.match(r.body, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.doesNotMatch(r.body, /<img src=x/);
    const attempts = [...r.body.matchAll(/<li class="fail" data-attempt="(\d)">([\s\S]*?)<\/li>/g)];
    assert.deepEqual(
      attempts.map((a) => a[1]),
      ['1', '2'],
    );
    assert.match(attempts[0][2], /failed after \d+ ms/);
    assert.match(attempts[0][2], /TypeError: broken 7/);
    assert.match(attempts[0][2], /<summary>Stack<\/summary><pre>TypeError: broken 7\n\s+at /);
    assert.match(attempts[0][2], / on [\w:.-]+/);
    const rules = textOf(r.body, 'rules');
    assert.match(rules, /page-oncall matched webhook https:\/\/x mode peek/);
    assert.match(rules, /page-oncall action webhook \(then\[0\]\) failed: HTTP 503 \(will retry\)/);
  });

  it('resubmit › one, selected, and by filter: each recorded in the history', async () => {
    const ids = await deadLetters(t.tb, 'fails', [{ n: 10 }, { n: 11 }, { n: 12 }, { n: 13 }]);
    const one = await c.post(`/dashboard/messages/${ids[0]}/resubmit`, { _csrf: c.csrf });
    assert.equal(one.headers.location, `/dashboard/messages/${ids[0]}?done=resubmitted&n=1`);
    const shown = await c.get(one.headers.location as string);
    assert.match(textOf(shown.body, 'notice'), /^Resubmitted 1 task\.$/);
    const selected = await c.post('/dashboard/tasks/fails/resubmit', {
      _csrf: c.csrf,
      mode: 'selected',
      ids: [ids[1], ids[0]],
    });
    assert.match(String(selected.headers.location), /done=resubmitted&n=1&missing=1$/);
    const filtered = await c.post('/dashboard/tasks/fails/resubmit', {
      _csrf: c.csrf,
      mode: 'filter',
      q: '"n":12',
    });
    assert.match(String(filtered.headers.location), /q=%22n%22%3A12.*done=resubmitted&n=1&missing=0$/);
    const none = await c.post('/dashboard/tasks/fails/resubmit', { _csrf: c.csrf, mode: 'filter', q: 'zzz' });
    assert.match(String(none.headers.location), /done=none$/);
    const empty = await c.post('/dashboard/tasks/fails/resubmit', { _csrf: c.csrf, mode: 'selected' });
    assert.equal(empty.statusCode, 400);
    assert.match(textOf(empty.body, 'notice'), /Select at least one task first/);
    assert.equal(empty.headers['hx-push-url'], 'false');
    for (const [id, action] of [
      [ids[0], 'resubmit'],
      [ids[1], 'resubmit-selected'],
      [ids[2], 'resubmit-filter'],
    ]) {
      const m = await t.tb.getTask(id);
      const e = m!.history.find((h) => h.type === 'resubmitted');
      assert.equal(e?.data.by, 'dashboard', id);
      assert.equal(e?.data.action, action);
      assert.equal(e?.data.reason, 'MaxDeliveryCountExceeded');
    }
    assert.equal((await t.tb.getTask(ids[2]))!.history[0].data.filter, '"n":12');
    assert.equal((await t.tb.getTask(ids[3]))!.state, 'deadlettered');
  });

  it('edit and resubmit › runs with the new body; invalid JSON is refused and the text kept', async () => {
    const [id] = await deadLetters(t.tb, 'fails', [{ n: 20 }]);
    const bad = await c.post(`/dashboard/messages/${id}/resubmit`, { _csrf: c.csrf, body: '{"n": 21,' });
    assert.equal(bad.statusCode, 400);
    assert.match(textOf(bad.body, 'notice'), /The edited body is not valid JSON/);
    assert.match(bad.body, /<details open><summary>Edit the body/);
    assert.match(
      bad.body,
      /<textarea id="edit-body" name="body" spellcheck="false">\{&quot;n&quot;: 21,<\/textarea>/,
    );
    const ok = await c.post(`/dashboard/messages/${id}/resubmit`, { _csrf: c.csrf, body: '{"n": 21}' });
    assert.equal(ok.headers.location, `/dashboard/messages/${id}?done=edited&n=1`);
    const m = await t.tb.getTask(id);
    assert.deepEqual(m!.body, { kind: 'json', json: '{"n":21}' });
    assert.equal(m!.history.at(-1)!.data.action, 'edit-resubmit');
    assert.equal(m!.history.at(-1)!.data.bodyEdited, true);
    const again = await c.post(`/dashboard/messages/${id}/resubmit`, { _csrf: c.csrf });
    assert.equal(again.statusCode, 409, 'only dead letters can be resubmitted');
  });

  it('purge › needs the task name typed; then purges all or the selected', async () => {
    const ids = await deadLetters(t.tb, 'doomed', [{ n: 30 }, { n: 31 }, { n: 32 }]);
    const refused = await c.post('/dashboard/tasks/doomed/purge', {
      _csrf: c.csrf,
      mode: 'all',
      confirm: 'doome',
    });
    assert.equal(refused.statusCode, 400);
    assert.match(textOf(refused.body, 'notice'), /Type the task name “doomed” to confirm the purge/);
    assert.equal((await t.tb.counts(['doomed']))[0].deadlettered, 3);
    const some = await c.post('/dashboard/tasks/doomed/purge', {
      _csrf: c.csrf,
      confirm: 'doomed',
      ids: [ids[0]],
    });
    assert.match(String(some.headers.location), /done=purged&n=1$/);
    assert.equal(await t.tb.getTask(ids[0]), null);
    const all = await c.post('/dashboard/tasks/doomed/purge', {
      _csrf: c.csrf,
      mode: 'all',
      confirm: ' doomed ',
    });
    assert.match(String(all.headers.location), /done=purged&n=2$/);
    assert.equal((await t.tb.counts(['doomed']))[0].deadlettered, 0);
  });

  it('cancel › a scheduled task becomes a Cancelled dead letter; a finished one is refused', async () => {
    const { id } = await t.tb.enqueue('later', { x: 1 }, { delayMs: 60_000 });
    const page = await c.get(`/dashboard/messages/${id}`);
    assert.match(page.body, /id="cancel"/);
    assert.match(
      page.body,
      /<section id="message" hx-get="\/dashboard\/messages\/[^"]+" hx-trigger="every 200ms"/,
    );
    const r = await c.post(`/dashboard/messages/${id}/cancel`, {
      _csrf: c.csrf,
      next: '/dashboard/tasks/later?state=scheduled',
    });
    assert.equal(r.headers.location, '/dashboard/tasks/later?state=scheduled&done=cancelled');
    const m = await t.tb.getTask(id);
    assert.equal(m!.deadLetterReason, 'Cancelled');
    assert.equal(m!.history.at(-1)!.type, 'cancelled');
    const again = await c.post(`/dashboard/messages/${id}/cancel`, { _csrf: c.csrf });
    assert.equal(again.statusCode, 409);
    assert.match(textOf(again.body, 'notice'), /only scheduled or queued tasks can be cancelled/);
    const offsite = await c.post(
      `/dashboard/messages/${(await t.tb.enqueue('later', {}, { delayMs: 60_000 })).id}/cancel`,
      { _csrf: c.csrf, next: 'https://evil.example/' },
    );
    assert.equal(offsite.headers.location, '/?done=cancelled');
  });

  it('notices › only fixed sentences are rendered from the URL', async () => {
    const r = await c.get('/?done=<b>hi</b>&n=<i>');
    assert.equal(textOf(r.body, 'notice'), '');
    const p = await c.get('/dashboard/tasks/fails?state=deadlettered&done=purged&n=abc');
    assert.equal(textOf(p.body, 'notice'), 'Purged 0 dead-lettered tasks.');
  });
});
