/**
 * Writes the screenshots docs/dashboard.md shows, from a real Taskbus and Debian's headless
 * Chromium. An hour of history is written through the storage driver with past times, so the
 * charts have something to show; then real workers run live tasks while the pages are taken.
 *
 *   node --import tsx test/dashboard/screenshots.ts docs/img
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { newId } from '../../src/id.ts';
import { jsonBody, settleOne } from '../../src/storage/common.ts';
import type { Settlement } from '../../src/storage/driver.ts';
import type { Taskbus } from '../../src/taskbus.ts';
import { waitFor } from '../support/wait.ts';
import { dashboardApp, launchChromium, MASTER } from './support.ts';

const out = process.argv[2] ?? 'docs/img';
mkdirSync(out, { recursive: true });
const MIN = 60_000;
let fixed = false;
let release: () => void = () => {};
const held = new Promise<void>((r) => {
  release = r;
});

const t = await dashboardApp(
  {
    'send-email': {
      handler: async (b: { to: string }) => ({ messageId: `<${b.to}>` }),
      description: 'Sends one email',
    },
    'resize-image': {
      handler: async () => {
        await held;
        return { width: 800 };
      },
      concurrency: 2,
      description: 'Makes thumbnails',
    },
    'invoice-pdf': {
      handler: async (b: { customer: string }) => {
        if (!fixed) throw new TypeError(`template needs customer.vatId (customer ${b.customer})`);
        return { pages: 2, bytes: 48_213 };
      },
      maxDeliveryCount: 3,
      backoff: { type: 'none' },
      description: 'Renders an invoice',
    },
  },
  { dashboard: { pollMs: 1000 } },
);

/** One delivery settled at `at`, written straight to storage (time travel for the chart). */
async function past(tb: Taskbus, name: string, body: unknown, at: number, outcomes: ('ok' | Error)[]) {
  const id = newId(at);
  await tb.driver.enqueue({
    messages: [
      {
        id,
        name,
        body: jsonBody(body),
        visibleAt: at,
        expiresAt: null,
        idempotencyKey: null,
        traceparent: null,
      },
    ],
    now: at,
  });
  let now = at;
  for (const [i, o] of outcomes.entries()) {
    const [m] = await tb.driver.receive({ name, limit: 1, lockDurationMs: MIN, workerId: 'worker-a1', now });
    const attempt = {
      startedAt: now,
      endedAt: now + 180 + i * 40,
      worker: `host-${1 + (i % 2)}:4411`,
      error: o === 'ok' ? null : { name: o.name, message: o.message, stack: o.stack },
    };
    const last = i === outcomes.length - 1;
    const s: Settlement =
      o === 'ok'
        ? { kind: 'complete', id, lockToken: m.lockToken, result: { ok: true }, attempt }
        : last
          ? {
              kind: 'deadletter',
              id,
              lockToken: m.lockToken,
              reason: 'MaxDeliveryCountExceeded',
              description: `${o.name}: ${o.message}`,
              attempt,
            }
          : { kind: 'abandon', id, lockToken: m.lockToken, visibleAt: attempt.endedAt + 1000, attempt };
    await settleOne(tb.driver, s, attempt.endedAt);
    now = attempt.endedAt + 1000;
  }
  return id;
}

const now = Date.now();
/** An error with the stack a task file would give (not this script's paths). */
const failure = (name: string, message: string, frames: string[]) =>
  Object.assign(new Error(message), {
    name,
    stack: [`${name}: ${message}`, ...frames.map((f) => `    at ${f}`)].join('\n'),
  });
const smtp = () =>
  failure('SmtpError', 'SMTP 451 4.7.1 greylisted, try again later', [
    'SMTPConnection._actionRCPT (node_modules/nodemailer/lib/smtp-connection/index.js:1689:24)',
    'handler (tasks/send-email.ts:24:5)',
  ]);
for (let m = 59; m >= 1; m--) {
  const at = now - m * MIN;
  const busy = 6 + Math.round(5 * Math.sin(m / 7) + (m % 5));
  for (let i = 0; i < busy; i++) {
    await past(
      t.tb,
      'send-email',
      { to: `user${i}@example.com` },
      at + i * 900,
      i % 9 === 3 ? [smtp(), 'ok'] : ['ok'],
    );
  }
  for (let i = 0; i < 3; i++)
    await past(t.tb, 'resize-image', { key: `photos/${m}-${i}.jpg` }, at + i * 2000, ['ok']);
}
const err = (c: string) =>
  failure('TypeError', `template needs customer.vatId (customer ${c})`, [
    'renderTotals (tasks/invoice-pdf.ts:48:13)',
    'renderInvoice (tasks/invoice-pdf.ts:31:5)',
    'handler (tasks/invoice-pdf.ts:12:18)',
  ]);
const dead: string[] = [];
for (const [m, c] of [
  [42, 'ACME-17'],
  [25, 'Initech-3'],
  [11, 'Globex-88'],
] as const) {
  dead.push(
    await past(t.tb, 'invoice-pdf', { customer: c, total: 1280.5 }, now - m * MIN, [err(c), err(c), err(c)]),
  );
}
const at = now - 11 * MIN + 5000;
await t.tb.driver.addHistory({
  id: dead[2],
  event: {
    at,
    type: 'rule.matched',
    data: {
      rule: 'billing-alerts',
      occurrence: 1,
      mode: 'peek',
      actions: ['webhook https://hooks.example.com/billing'],
    },
  },
});
await t.tb.driver.addHistory({
  id: dead[2],
  event: {
    at: at + 400,
    type: 'rule.action',
    data: {
      rule: 'billing-alerts',
      occurrence: 1,
      action: 0,
      type: 'webhook',
      status: 'succeeded',
      attempt: 1,
      detail: { status: 204 },
    },
  },
});
await t.tb.driver.addHistory({
  id: dead[2],
  event: {
    at: at + 450,
    type: 'rule.handled',
    data: { rule: 'billing-alerts', occurrence: 1, mode: 'peek' },
  },
});

await t.app.listen({ host: '127.0.0.1', port: 0 });
const addr = t.app.server.address();
const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
await t.tb.startWorkers();
await t.tb.enqueueMany(
  'resize-image',
  Array.from({ length: 7 }, (_, i) => ({ key: `uploads/${i}.png` })),
);
await t.tb.enqueue('send-email', { to: 'later@example.com' }, { delayMs: 15 * MIN });

const browser = await launchChromium();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const shot = (p: Page, name: string) =>
    p.screenshot({ path: join(out, `dashboard-${name}.png`), fullPage: true });
  await page.goto(`${base}/`);
  await shot(page, 'login');
  await page.locator('#key').fill(MASTER);
  await page.locator('#key').press('Enter');
  await page.waitForSelector('#overview');
  await page.waitForFunction(
    () => document.querySelector('#count-resize-image-running')?.textContent === '2',
  );
  await shot(page, 'overview');

  await page.goto(`${base}/dashboard/tasks/invoice-pdf?state=deadlettered`);
  await shot(page, 'queue');
  await page.goto(`${base}/dashboard/messages/${dead[2]}`);
  await page.locator('#timeline li[data-attempt="3"] summary').click();
  await shot(page, 'task-deadlettered');

  fixed = true;
  await page.locator('#actions summary').click();
  await page
    .locator('#edit-body')
    .fill('{\n  "customer": "Globex-88",\n  "total": 1280.5,\n  "vatId": "DE811907980"\n}');
  await page.locator('#resubmit-edited').click();
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.trim() === 'completed');
  await shot(page, 'task-completed');

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  await phone.addCookies(await context.cookies());
  const p = await phone.newPage();
  await p.goto(`${base}/`);
  await p.waitForSelector('#overview');
  await shot(p, 'phone');
  await phone.close();
} finally {
  release();
  await browser.close();
  await waitFor(async () => (await t.tb.counts(['resize-image']))[0].running === 0, 'handlers done');
  await t.close();
}
console.log(`screenshots in ${out}`);
