// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.ts';
import type { ActionTaskBody } from '../../src/deadletter/runtime.ts';
import { verifyWebhookSignature } from '../../src/deadletter/signature.ts';
import type { TaskContext } from '../../src/tasks/define.ts';
import { settle, waitFor } from '../support/wait.ts';
import {
  FAST_ACTIONS,
  failing,
  freePort,
  MailSink,
  mailText,
  rulesBus,
  type Taskbus,
  WebhookReceiver,
} from './support.ts';

const SECRET = 'whsec-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
function track<T extends { tb: Taskbus }>(bus: T): T {
  cleanup.push(() => bus.tb.close(100));
  return bus;
}
async function up<T extends WebhookReceiver | MailSink>(r: T): Promise<T> {
  await r.start();
  cleanup.push(() => r.stop());
  return r;
}

const historyTypes = async (tb: Taskbus, id: string) => (await tb.getTask(id))!.history.map((h) => h.type);
const stateOf = async (tb: Taskbus, name: string, state: 'completed' | 'scheduled' | 'queued') =>
  (await tb.browse(name, state)).items;

describe('dead-letter rules › actions', () => {
  it('article scenario › certainTaskType invokes the remedy and is removed; anything else emails the team', async () => {
    const mail = await up(new MailSink(await freePort()));
    const remedied: any[] = [];
    const { tb } = track(
      await rulesBus(
        {
          orders: failing(),
          remedy: async (body: any) => {
            remedied.push(body);
            return { fixed: body.message.id };
          },
        },
        {
          smtp: { url: mail.url, from: 'Taskbus <taskbus@example.com>' },
          publicUrl: 'https://tasks.example.com',
          deadLetters: {
            rules: [
              {
                name: 'remedy-certain',
                when: { body: { taskType: 'certainTaskType' } },
                then: { invoke: 'remedy' },
                mode: 'auto-complete',
              },
              { name: 'tell-the-team', then: { email: { to: ['team@example.com', 'oncall@example.com'] } } },
            ],
            actions: FAST_ACTIONS,
          },
        },
      ),
    );
    const certain = await tb.enqueue('orders', { taskType: 'certainTaskType', orderId: 7 });
    const other = await tb.enqueue('orders', { taskType: 'other', orderId: 8 });

    // The remedy ran, with the message, its reason and its attempts, and succeeded.
    const [done] = await waitFor(async () => {
      const c = await stateOf(tb, 'remedy', 'completed');
      return c.length ? c : null;
    }, 'the remedy task to complete');
    assert.deepEqual(done.result, { fixed: certain.id });
    assert.equal(remedied.length, 1);
    assert.deepEqual(remedied[0].message.body, { taskType: 'certainTaskType', orderId: 7 });
    assert.equal(remedied[0].reason, 'MaxDeliveryCountExceeded');
    assert.equal(remedied[0].attempts[0].error.message, 'payment gateway timed out');
    assert.equal(remedied[0].rule, 'remedy-certain');
    // auto-complete: removed from the DLQ once its action succeeded.
    await waitFor(async () => (await tb.getTask(certain.id)) === null, 'auto-complete to remove the message');

    // Everything else: one email naming the task, the reason, the error and a link.
    await waitFor(() => mail.messages.length === 1, 'the email');
    const [m] = mail.messages;
    assert.deepEqual(m.to, ['team@example.com', 'oncall@example.com']);
    assert.equal(m.from, 'taskbus@example.com');
    const text = mailText(m.raw);
    assert.match(text, /^Subject: \[Taskbus\] orders dead-lettered: MaxDeliveryCountExceeded$/m);
    assert.match(text, /Task: +orders/);
    assert.match(text, /Reason: +MaxDeliveryCountExceeded/);
    assert.match(text, /Last error: +Error: payment gateway timed out/);
    assert.ok(text.includes(`https://tasks.example.com/dashboard/messages/${other.id}`), text);
    // peek-lock (the default): the message stays, marked handled by the rule.
    await waitFor(async () => (await historyTypes(tb, other.id)).includes('rule.handled'), 'rule.handled');
    const kept = (await tb.getTask(other.id))!;
    assert.equal(kept.state, 'deadlettered');
    assert.deepEqual(
      kept.history.map((h) => [h.type, h.data.rule, h.data.status ?? null]),
      [
        ['rule.matched', 'tell-the-team', null],
        ['rule.action', 'tell-the-team', 'succeeded'],
        ['rule.handled', 'tell-the-team', null],
      ],
    );
    assert.deepEqual((kept.history[1].data.detail as any).accepted, [
      'team@example.com',
      'oncall@example.com',
    ]);
  });

  it('durability › webhook receiver and SMTP server down at first, and a restart: exactly one delivery each', async () => {
    const hook = new WebhookReceiver(await freePort());
    const mail = new MailSink(await freePort());
    cleanup.push(
      () => hook.stop(),
      () => mail.stop(),
    );
    const config = {
      smtp: { url: mail.url },
      deadLetters: {
        rules: [
          {
            name: 'notify',
            when: { task: 'orders', error: /timed out/ },
            then: [{ webhook: { url: hook.url, secret: SECRET } }, { email: { to: 'team@example.com' } }],
          },
        ],
        actions: FAST_ACTIONS,
      },
    };
    const db = join(dir, 'durable.db');
    const clock = new ManualClock();
    const first = await rulesBus({ orders: failing() }, config, { db, clock });
    const { id } = await first.tb.enqueue('orders', { n: 1 });
    // Both actions failed once (recorded on the message) and wait out their backoff.
    await waitFor(async () => {
      const m = await first.tb.getTask(id);
      return m?.history.filter((h) => h.type === 'rule.action' && h.data.status === 'failed').length === 2;
    }, 'both first attempts to fail');
    await waitFor(
      async () =>
        (await stateOf(first.tb, '$webhook', 'scheduled')).length === 1 &&
        (await stateOf(first.tb, '$email', 'scheduled')).length === 1,
      'both retries to be scheduled',
    );
    const failed = (await first.tb.getTask(id))!.history.filter((h) => h.type === 'rule.action');
    assert.match(String(failed.find((h) => h.data.type === 'webhook')!.data.error), /ECONNREFUSED/);
    assert.equal(failed[0].data.willRetry, true);
    await first.tb.close(100);

    // A new process on the same database; the receivers come up.
    await hook.start();
    await mail.start();
    const second = track(await rulesBus({ orders: failing() }, config, { db, clock }));
    clock.advance(1000);
    await waitFor(
      () => hook.requests.length === 1 && mail.messages.length === 1,
      'one webhook and one email',
    );
    await waitFor(
      async () => (await historyTypes(second.tb, id)).includes('rule.handled'),
      'the rule to finish',
    );
    for (let i = 0; i < 5; i++) {
      clock.advance(5000);
      await settle();
    }
    assert.equal(hook.requests.length, 1, 'exactly one webhook');
    assert.equal(mail.messages.length, 1, 'exactly one email');

    const req = hook.requests[0];
    assert.equal(
      verifyWebhookSignature(SECRET, req.body, req.headers['taskbus-signature'] as string, {
        nowMs: clock.now(),
      }),
      true,
    );
    assert.equal(
      verifyWebhookSignature('wrong-secret-123', req.body, req.headers['taskbus-signature'] as string, {
        nowMs: clock.now(),
      }),
      false,
    );
    const payload = JSON.parse(req.body);
    assert.equal(req.headers['idempotency-key'], `deadletter:${id}:1:notify:0`);
    assert.equal(payload.idempotencyKey, req.headers['idempotency-key']);
    assert.equal(payload.type, 'message.deadlettered');
    assert.equal(payload.message.id, id);
    assert.deepEqual(payload.message.body, { n: 1 });
    assert.equal(payload.reason, 'MaxDeliveryCountExceeded');
    assert.equal(payload.lastError, 'Error: payment gateway timed out');
    assert.equal(
      payload.link,
      `http://127.0.0.1:7071/dashboard/messages/${id}`,
      'publicUrl defaults to loopback',
    );
    const text = mailText(mail.messages[0].raw);
    assert.match(text, /Task: +orders/);
    assert.match(text, /Reason: +MaxDeliveryCountExceeded/);
    assert.match(text, /payment gateway timed out/);

    // peek-lock: still in the DLQ, and the history tells the whole story.
    const m = (await second.tb.getTask(id))!;
    assert.equal(m.state, 'deadlettered');
    const story = m.history.map((h) => [
      h.type,
      h.data.type ?? null,
      h.data.status ?? null,
      h.data.attempt ?? null,
    ]);
    assert.deepEqual(story[0], ['rule.matched', null, null, null]);
    assert.deepEqual(story.at(-1), ['rule.handled', null, null, null]);
    // The two actions run side by side: their entries may interleave.
    assert.deepEqual(
      story
        .slice(1, -1)
        .map((e) => JSON.stringify(e))
        .sort(),
      [
        ['rule.action', 'email', 'failed', 1],
        ['rule.action', 'email', 'succeeded', 2],
        ['rule.action', 'webhook', 'failed', 1],
        ['rule.action', 'webhook', 'succeeded', 2],
      ].map((e) => JSON.stringify(e)),
    );
  });

  it('resubmit › after a delay at most N times, then the next rule takes over', async () => {
    const hook = await up(new WebhookReceiver(await freePort()));
    let calls = 0;
    const { tb, clock } = track(
      await rulesBus(
        {
          flaky: {
            maxDeliveryCount: 1,
            handler: async () => {
              calls++;
              throw new Error(`still failing (${calls})`);
            },
          },
        },
        {
          deadLetters: {
            rules: [
              {
                name: 'retry-later',
                when: { task: 'flaky' },
                then: { resubmit: { delayMs: 5000, times: 2 } },
              },
              { name: 'give-up', then: { webhook: { url: hook.url, secret: SECRET } } },
            ],
            actions: FAST_ACTIONS,
          },
        },
      ),
    );
    const { id } = await tb.enqueue('flaky', { n: 1 });
    for (const n of [1, 2]) {
      await waitFor(
        async () => (await stateOf(tb, '$resubmit', 'scheduled')).length === 1,
        `resubmit ${n} scheduled`,
      );
      clock.advance(4999);
      await settle();
      assert.equal(calls, n, 'not resubmitted before the delay');
      clock.advance(1);
      await waitFor(() => calls === n + 1, `delivery ${n + 1}`);
    }
    await waitFor(() => hook.requests.length === 1, 'the fallback webhook');
    const payload = JSON.parse(hook.requests[0].body);
    assert.equal(payload.rule, 'give-up');
    assert.equal(payload.occurrence, 3);
    assert.equal(payload.attempts.length, 3, 'attempts are kept across resubmits');
    await waitFor(async () => (await historyTypes(tb, id)).includes('rule.handled'), 'give-up to finish');
    const m = (await tb.getTask(id))!;
    const resubmits = m.history.filter((h) => h.type === 'resubmitted');
    assert.deepEqual(
      resubmits.map((h) => [h.data.by, h.data.rule, h.data.occurrence]),
      [
        ['rule', 'retry-later', 1],
        ['rule', 'retry-later', 2],
      ],
    );
    const matched = m.history
      .filter((h) => h.type === 'rule.matched')
      .map((h) => [h.data.rule, h.data.occurrence]);
    assert.deepEqual(matched, [
      ['retry-later', 1],
      ['retry-later', 2],
      ['give-up', 3],
    ]);
    assert.deepEqual(
      m.history.find((h) => h.data.rule === 'give-up' && h.type === 'rule.matched')!.data.skipped,
      [{ rule: 'retry-later', why: 'resubmit limit reached (2 of 2)' }],
    );
  });

  it('discard › removes the message once the other actions succeeded', async () => {
    const hook = await up(new WebhookReceiver(await freePort()));
    const { tb } = track(
      await rulesBus(
        { orders: failing() },
        {
          deadLetters: {
            rules: [{ then: [{ webhook: { url: hook.url, secret: SECRET } }, 'discard'] }],
            actions: FAST_ACTIONS,
          },
        },
      ),
    );
    const { id } = await tb.enqueue('orders', {});
    await waitFor(() => hook.requests.length === 1, 'the webhook');
    await waitFor(async () => (await tb.getTask(id)) === null, 'the message to be discarded');
  });

  it('idempotency › a repeated $deadletter delivery or action delivery does nothing twice', async () => {
    const hook = await up(new WebhookReceiver(await freePort()));
    const { tb, runtime } = track(
      await rulesBus(
        { orders: failing() },
        {
          deadLetters: {
            rules: [{ name: 'notify', then: { webhook: { url: hook.url, secret: SECRET } } }],
            actions: FAST_ACTIONS,
          },
        },
      ),
    );
    await tb.stopWorkers();
    const { id } = await tb.enqueue('orders', { n: 1 });
    assert.equal(await tb.cancel(id), true);
    const m = (await tb.getTask(id))!;
    const ctx = {
      deliveryCount: 1,
      enqueuedAt: new Date(m.deadLetteredAt!),
      signal: new AbortController().signal,
    } as TaskContext;
    const event = { id, name: 'orders', reason: 'Cancelled' };
    assert.deepEqual(await runtime.evaluate(event, ctx), { rule: 'notify', occurrence: 1, actions: 1 });
    await runtime.evaluate(event, { ...ctx, deliveryCount: 2 });
    const queued = await stateOf(tb, '$webhook', 'queued');
    assert.equal(queued.length, 1, 'one action task for one dead-lettering');
    assert.equal((await historyTypes(tb, id)).filter((t) => t === 'rule.matched').length, 1);

    const body = JSON.parse((queued[0].body as { json: string }).json) as ActionTaskBody;
    await runtime.runAction(body, ctx);
    assert.deepEqual(await runtime.runAction(body, { ...ctx, deliveryCount: 2 }), { already: true });
    assert.equal(hook.requests.length, 1);
    assert.deepEqual(await historyTypes(tb, id), [
      'cancelled',
      'rule.matched',
      'rule.action',
      'rule.handled',
    ]);
  });
});
