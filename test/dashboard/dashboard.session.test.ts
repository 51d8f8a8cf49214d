import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.ts';
import { escapeHtml, html, raw } from '../../src/dashboard/html.ts';
import { readCookie, Sessions, sessionCookie } from '../../src/dashboard/session.ts';
import { SqliteDriver } from '../../src/storage/sqlite/driver.ts';

const drivers: SqliteDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

async function sessions(clock = new ManualClock(), driver?: SqliteDriver) {
  const d = driver ?? new SqliteDriver({ filename: ':memory:' });
  if (!driver) {
    await d.migrate();
    drivers.push(d);
  }
  return { s: new Sessions(d, clock, 60_000), clock, d };
}

describe('dashboard sessions', () => {
  it('issue › a cookie proves its session until it expires', async () => {
    const { s, clock } = await sessions();
    const { session, cookie } = await s.issue(true);
    assert.deepEqual(await s.read(cookie), session);
    assert.equal(session.authenticated, true);
    clock.advance(59_999);
    assert.ok(await s.read(cookie));
    clock.advance(1);
    assert.equal(await s.read(cookie), null);
  });

  it('read › refuses a tampered, truncated or foreign cookie', async () => {
    const { s, d } = await sessions();
    const { cookie } = await s.issue(false);
    const [id, exp, , mac] = cookie.split('.');
    assert.equal(await s.read(`${id}.${exp}.a.${mac}`), null, 'flag changed to authenticated');
    assert.equal(await s.read(`${id}.${Number(exp) + 1000}.u.${mac}`), null, 'expiry extended');
    assert.equal(await s.read(`x${id}.${exp}.u.${mac}`), null, 'id changed');
    assert.equal(await s.read(cookie.slice(0, -2)), null);
    assert.equal(await s.read(undefined), null);
    assert.equal(await s.read('garbage'), null);
    // Another installation (another secret) does not accept it.
    const other = await sessions();
    assert.equal(await other.s.read(cookie), null);
    // Another process on the same database does.
    const sibling = await sessions(new ManualClock(), d);
    assert.ok(await sibling.s.read(cookie));
  });

  it('csrf › the token belongs to one session', async () => {
    const { s } = await sessions();
    const a = (await s.issue(true)).session;
    const b = (await s.issue(true)).session;
    const token = await s.csrfToken(a);
    assert.equal(await s.checkCsrf(a, token), true);
    assert.equal(await s.checkCsrf(b, token), false);
    assert.equal(await s.checkCsrf(a, undefined), false);
    assert.equal(await s.checkCsrf(a, ''), false);
    assert.equal(await s.checkCsrf(a, `${token}x`), false);
  });

  it('revoke › a logged-out session is refused by this process', async () => {
    const { s } = await sessions();
    const { session, cookie } = await s.issue(true);
    s.revoke(session);
    assert.equal(await s.read(cookie), null);
  });

  it('cookie › HttpOnly, SameSite=Strict, Path=/, Secure only over HTTPS; read back by name', () => {
    assert.equal(
      sessionCookie('v', 90_000, false),
      'taskbus_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=90',
    );
    assert.match(sessionCookie('v', 90_000, true), /; Secure$/);
    assert.equal(readCookie('a=1; taskbus_session=xyz ; b=2', 'taskbus_session'), 'xyz');
    assert.equal(readCookie(undefined, 'taskbus_session'), undefined);
  });
});

describe('dashboard html', () => {
  it('escapes every interpolated value unless it is markup already', () => {
    const evil = `<script>alert("x")</script>&'`;
    assert.equal(
      html`<p title="${evil}">${evil}</p>`.value,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    );
    assert.equal(html`<ul>${['<a>', html`<li>ok</li>`]}</ul>`.value, '<ul>&lt;a&gt;<li>ok</li></ul>');
    assert.equal(html`${null}${undefined}${false}${0}`.value, '0');
    assert.equal(html`${raw('<b>')}`.value, '<b>');
    assert.equal(escapeHtml('a&b'), 'a&amp;b');
  });
});
