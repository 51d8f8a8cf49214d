/**
 * The dashboard in a real browser: Debian's headless Chromium driven by playwright-core against
 * a listening Taskbus on the loopback. A person logs in, watches counts move while tasks run,
 * opens a dead-lettered task, reads its attempts, resubmits it and sees it complete. Every
 * action goes through the page's own forms, so a missing CSRF token fails the test.
 * The screenshots in docs/dashboard.md come from test/dashboard/screenshots.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { waitFor } from '../support/wait.ts';
import { chromiumSkip, type DashboardApp, dashboardApp, launchChromium, MASTER } from './support.ts';

// Bounds for waiting on the page, never assertions about time.
const WAIT = { timeout: 20_000 };

const skip = chromiumSkip;

/** A promise the test resolves to let waiting handlers finish. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe('dashboard in Chromium', { skip }, () => {
  let t: DashboardApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  const slowGate = gate();
  let broken = true;
  let flakyCalls = 0;
  const problems: string[] = [];

  before(async () => {
    t = await dashboardApp(
      {
        slow: {
          handler: async (body: { n: number }) => {
            await slowGate.promise;
            return { doubled: body.n * 2 };
          },
          description: 'Waits until the test lets it finish',
        },
        flaky: {
          handler: async (body: { invoice: string }) => {
            flakyCalls++;
            if (broken) throw new Error(`upstream refused invoice ${body.invoice} (call ${flakyCalls})`);
            return { sent: body.invoice };
          },
          maxDeliveryCount: 2,
          backoff: { type: 'none' },
        },
      },
      { db: ':memory:', dashboard: { pollMs: 250 } },
    );
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = t.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    await t.tb.startWorkers();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    // Anything the page logs as an error, but the answers the tests provoke on purpose.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/(status of|Status Error Code) (400|401|403)\b/.test(m.text()))
        problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
  });

  after(async () => {
    slowGate.open();
    await browser?.close();
    await t?.close();
  });

  const text = async (selector: string) => (await page.locator(selector).first().textContent()) ?? '';
  const waitText = (selector: string, expected: string | RegExp) =>
    page.waitForFunction(
      ([sel, exp, isRe]) => {
        const t = document.querySelector(sel)?.textContent?.trim() ?? '';
        return isRe ? new RegExp(exp).test(t) : t === exp;
      },
      [
        selector,
        expected instanceof RegExp ? expected.source : expected,
        expected instanceof RegExp,
      ] as const,
      WAIT,
    );
  const enqueue = async (name: string, body: unknown) => {
    const r = await fetch(`${base}/api/${name}`, {
      method: 'POST',
      headers: { 'x-functions-key': MASTER, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 202);
    return ((await r.json()) as { id: string }).id;
  };

  it('logs in with the master key, typed and submitted from the keyboard', async () => {
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/dashboard\/login\?next=%2F$/);
    await page.keyboard.type('not-the-key');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#login-error', WAIT);
    await page.locator('#key').fill(MASTER);
    await page.locator('#key').press('Enter');
    await page.waitForSelector('#overview', WAIT);
    assert.equal(new URL(page.url()).pathname, '/');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'taskbus_session');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict');
    assert.ok(!session.value.includes(MASTER));
  });

  it('overview › counts move live while tasks run, without reloading the page', async () => {
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    // Keyboard focus on a count survives the refreshes around it.
    await page.locator('#count-slow-completed').focus();
    for (let n = 1; n <= 3; n++) await enqueue('slow', { n });
    await waitText('#count-slow-running', '3');
    slowGate.open();
    await waitText('#count-slow-completed', '3');
    await waitText('#count-slow-running', '0');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'count-slow-completed');
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42);
  });

  it('overview › a dead letter stands out', async () => {
    await enqueue('flaky', { invoice: 'INV-7' });
    await waitText('#count-flaky-deadlettered', '1');
    // htmx keeps the old attributes for a moment while a swap settles: wait for the new ones.
    await page.waitForFunction(
      () =>
        document.querySelector('#count-flaky-deadlettered')?.classList.contains('alert') &&
        document.querySelector('#card-deadlettered')?.classList.contains('alert'),
      null,
      WAIT,
    );
    await waitText('#card-completed-hour [data-value]', '3');
  });

  it('opens the dead-lettered task and reads its attempts, errors and stacks', async () => {
    await page.locator('#count-flaky-deadlettered').click();
    await page.waitForSelector('#messages', WAIT);
    assert.match(page.url(), /\/dashboard\/tasks\/flaky\?state=deadlettered$/);
    await page.locator('#messages a[href^="/dashboard/messages/"]').first().click();
    await page.waitForSelector('#timeline', WAIT);
    assert.equal(await text('#dl-reason'), 'MaxDeliveryCountExceeded');
    const attempts = page.locator('#timeline li[data-attempt]');
    assert.equal(await attempts.count(), 2);
    assert.match(
      (await attempts.nth(0).textContent()) ?? '',
      /Attempt 1[\s\S]*upstream refused invoice INV-7 \(call 1\)/,
    );
    assert.match(
      (await attempts.nth(1).textContent()) ?? '',
      /Attempt 2[\s\S]*upstream refused invoice INV-7 \(call 2\)/,
    );
    await attempts.nth(1).locator('summary').click();
    assert.match((await attempts.nth(1).locator('details pre').textContent()) ?? '', /at .*handler/);
  });

  it('resubmits it from the page and sees it complete', async () => {
    broken = false;
    const id = new URL(page.url()).pathname.split('/').pop()!;
    await page.locator('#resubmit').click();
    await waitText('#notice', 'Resubmitted 1 task.');
    await waitText('#status', 'completed');
    assert.match(await text('#result'), /"sent": "INV-7"/);
    const attempts = page.locator('#timeline li[data-attempt]');
    assert.equal(await attempts.count(), 3);
    assert.match((await attempts.nth(2).textContent()) ?? '', /Attempt 3 — succeeded/);
    const event = page.locator('#timeline li[data-event="resubmitted"]');
    assert.match((await event.textContent()) ?? '', /by\s*dashboard/);
    assert.equal((await t.tb.getTask(id))?.state, 'completed');
  });

  it('an action without the CSRF token is refused, and the page says so', async () => {
    broken = true;
    const id = await enqueue('flaky', { invoice: 'INV-8' });
    await page.goto(`${base}/dashboard/messages/${id}`);
    await waitText('#status', 'deadlettered');
    // Strip both carriers of the token: the htmx header and the form's hidden field.
    await page.evaluate(() => {
      document.getElementById('app')?.removeAttribute('hx-headers');
      for (const el of document.querySelectorAll('input[name="_csrf"]')) el.remove();
    });
    await page.locator('#resubmit').click();
    await waitText('#notice', /^Refused \(403\): the CSRF token is missing or wrong/);
    assert.equal((await t.tb.getTask(id))?.state, 'deadlettered');
  });

  it('edits the body, resubmits, and purges with a typed confirmation', async () => {
    const id = (await t.tb.browse('flaky', 'deadlettered')).items[0].id;
    broken = false;
    await page.goto(`${base}/dashboard/messages/${id}`);
    await page.locator('#actions summary').click();
    await page.locator('#edit-body').fill('{ "invoice": "INV-8-fixed" }');
    await page.locator('#resubmit-edited').click();
    await waitText('#notice', 'Resubmitted with the edited body.');
    await waitText('#status', 'completed');
    assert.match(await text('#result'), /INV-8-fixed/);

    broken = true;
    const doomed = await enqueue('flaky', { invoice: 'INV-9' });
    await waitFor(async () => (await t.tb.getTask(doomed))?.state === 'deadlettered', 'INV-9 dead-lettered');
    await page.goto(`${base}/dashboard/tasks/flaky?state=deadlettered`);
    await page.waitForSelector('#purge-all', WAIT);
    await page.locator('#confirm-all').fill('wrong');
    await page.locator('#purge-all').click();
    await waitText('#notice', /Type the task name “flaky” to confirm/);
    await page.locator('#confirm-all').fill('flaky');
    await page.locator('#purge-all').click();
    await waitText('#notice', 'Purged 1 dead-lettered task.');
    assert.equal((await t.tb.counts(['flaky']))[0].deadlettered, 0);
  });

  it('is readable on a phone', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    await context.addCookies(await page.context().cookies());
    const phone = await context.newPage();
    try {
      await phone.goto(`${base}/`);
      await phone.waitForSelector('#overview', WAIT);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `no horizontal scrolling of the page (${width}px)`);
    } finally {
      await context.close();
    }
  });

  it('the page never logged an error (no CSP violation, no script error)', () => {
    assert.deepEqual(problems, []);
  });
});
