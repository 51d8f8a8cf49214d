/**
 * Dashboard login, sessions and CSRF at the HTTP level (inject, no browser): every action is
 * refused with a 403 problem without the session's CSRF token, and does nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, type DashboardApp, dashboardApp, deadLetters, field, MASTER } from './support.ts';

describe('dashboard auth', () => {
  let t: DashboardApp;
  let dead: string[];
  let scheduled: string;
  before(async () => {
    t = await dashboardApp({
      fails: { handler: async () => Promise.reject(new Error('no')), maxDeliveryCount: 1 },
      later: async () => 'ok',
    });
    dead = await deadLetters(t.tb, 'fails', [{ n: 1 }, { n: 2 }]);
    scheduled = (await t.tb.enqueue('later', {}, { delayMs: 3_600_000 })).id;
  });
  after(() => t.close());

  it('login › pages redirect to the login form, which keeps where you were going', async () => {
    const c = new Client(t.app);
    for (const url of ['/', '/dashboard/tasks/fails?state=deadlettered', `/dashboard/messages/${dead[0]}`]) {
      const r = await c.get(url);
      assert.equal(r.statusCode, 303, url);
      assert.equal(r.headers.location, `/dashboard/login?next=${encodeURIComponent(url)}`);
    }
    const poll = await c.get('/', { 'hx-request': 'true', 'hx-target': 'overview' });
    assert.equal(poll.statusCode, 401);
    assert.match(String(poll.headers['hx-redirect']), /^\/dashboard\/login/);
  });

  it('login › a wrong key is refused; the master key sets a signed HttpOnly SameSite=Strict cookie', async () => {
    const c = new Client(t.app);
    const wrong = await c.login('tb_wrong');
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /That is not the master key/);
    const host = await t.keys.create({ label: 'h', scope: 'host' });
    assert.equal((await c.login(host.key)).statusCode, 401, 'a host key does not open the dashboard');
    const ok = await c.login();
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/');
    const cookie = String(ok.headers['set-cookie']);
    assert.match(
      cookie,
      /^taskbus_session=[\w-]+\.\d+\.a\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    assert.ok(!cookie.includes(MASTER));
    const home = await c.get('/');
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /<h1 id="overview-title">Overview<\/h1>/);
    assert.ok(c.csrf.length > 20);
    assert.equal(field(home.body, '_csrf'), c.csrf, 'the meta tag and the hidden fields carry one token');
    assert.match(home.body, new RegExp(`hx-headers="\\{&quot;x-csrf-token&quot;:&quot;${c.csrf}&quot;\\}"`));
  });

  it('login › the login form itself needs its CSRF token', async () => {
    const c = new Client(t.app);
    await c.get('/dashboard/login');
    const r = await c.post('/dashboard/login', { key: MASTER, next: '/' });
    assert.equal(r.statusCode, 403);
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(r.json().code, 'FORBIDDEN');
    assert.equal(r.headers['set-cookie'], undefined);
  });

  it('login › `next` never leads to another site', async () => {
    const c = new Client(t.app);
    const page = await c.get('/dashboard/login');
    const r = await c.post('/dashboard/login', {
      _csrf: field(page.body, '_csrf')!,
      key: MASTER,
      next: '//evil.example/x',
    });
    assert.equal(r.headers.location, '/');
  });

  it('csrf › every action is refused with a 403 problem without the token or with a wrong one', async () => {
    const c = new Client(t.app);
    await c.login();
    const other = new Client(t.app);
    await other.login();
    const actions: [string, Record<string, string | string[]>][] = [
      ['/dashboard/tasks/fails/resubmit', { mode: 'selected', ids: dead }],
      ['/dashboard/tasks/fails/resubmit', { mode: 'filter', q: '' }],
      ['/dashboard/tasks/fails/purge', { mode: 'all', confirm: 'fails' }],
      [`/dashboard/messages/${dead[0]}/resubmit`, {}],
      [`/dashboard/messages/${dead[0]}/resubmit`, { body: '{"edited":true}' }],
      [`/dashboard/messages/${scheduled}/cancel`, {}],
      ['/dashboard/logout', {}],
    ];
    for (const [url, fields] of actions) {
      for (const token of [undefined, '', 'forged', other.csrf]) {
        const r = await c.post(url, token === undefined ? fields : { ...fields, _csrf: token });
        assert.equal(r.statusCode, 403, `${url} with token ${token}`);
        assert.equal(r.json().type, 'https://taskbus.dev/errors/forbidden');
        const h = await c.post(url, fields, token === undefined ? {} : { 'x-csrf-token': token });
        assert.equal(h.statusCode, 403, `${url} with header ${token}`);
      }
    }
    // Nothing happened.
    assert.equal((await t.tb.counts(['fails']))[0].deadlettered, 2);
    assert.equal((await t.tb.getTask(scheduled))?.state, 'scheduled');
    assert.equal((await t.tb.getTask(dead[0]))?.history.length, 0);
    assert.equal((await c.get('/')).statusCode, 200, 'still logged in');
  });

  it('csrf › the token is accepted from the htmx header or from the form field', async () => {
    const c = new Client(t.app);
    await c.login();
    const viaHeader = await c.post(`/dashboard/messages/${scheduled}/cancel`, {}, { 'x-csrf-token': c.csrf });
    assert.equal(viaHeader.statusCode, 303);
    assert.equal((await t.tb.getTask(scheduled))?.state, 'deadlettered');
    const viaField = await c.post(`/dashboard/messages/${scheduled}/resubmit`, { _csrf: c.csrf });
    assert.equal(viaField.statusCode, 303);
    assert.notEqual((await t.tb.getTask(scheduled))?.state, 'deadlettered');
  });

  it('key › the master key in a header opens pages and actions without a session; other keys do not', async () => {
    const id = (await t.tb.enqueue('later', {}, { delayMs: 3_600_000 })).id;
    const host = await t.keys.create({ label: 'h2', scope: 'host' });
    const page = await t.app.inject({ url: '/', headers: { 'x-functions-key': MASTER } });
    assert.equal(page.statusCode, 200);
    assert.equal(field(page.body, 'csrf-token'), null);
    const refused = await t.app.inject({
      method: 'POST',
      url: `/dashboard/messages/${id}/cancel`,
      headers: { 'x-functions-key': host.key },
    });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().code, 'UNAUTHORIZED');
    const r = await t.app.inject({
      method: 'POST',
      url: `/dashboard/messages/${id}/cancel`,
      headers: { authorization: `Bearer ${MASTER}` },
    });
    assert.equal(r.statusCode, 303);
    assert.equal((await t.tb.getTask(id))?.state, 'deadlettered');
  });

  it('logout › clears the cookie and the session no longer opens pages', async () => {
    const c = new Client(t.app);
    await c.login();
    const kept = c.cookie;
    const r = await c.post('/dashboard/logout', { _csrf: c.csrf });
    assert.equal(r.statusCode, 303);
    assert.match(String(r.headers['set-cookie']), /^taskbus_session=; .*Max-Age=0/);
    c.cookie = kept;
    assert.equal((await c.get('/')).statusCode, 303, 'the old cookie is revoked');
  });

  it('headers › pages forbid framing, inline scripts and caching', async () => {
    const r = await t.app.inject({ url: '/', headers: { 'x-functions-key': MASTER } });
    assert.match(String(r.headers['content-security-policy']), /script-src 'self';.*frame-ancestors 'none'/);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(r.body, /<script>|\son\w+=/, 'no inline script or handler');
    const js = await t.app.inject({ url: '/dashboard/assets/htmx.min.js' });
    assert.equal(js.statusCode, 200);
    assert.match(js.body, /htmx/);
  });
});
