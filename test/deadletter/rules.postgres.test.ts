// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
/**
 * The dead-letter rules on PostgreSQL: the `$deadletter` outbox written by the PostgreSQL
 * driver, history, idempotency keys and resubmit behave as on SQLite.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { redrive } from '../../src/deadletter/redrive.ts';
import { postgresPreflight, postgresUrl, useSchemas } from '../support/postgres.ts';
import { settle, waitFor } from '../support/wait.ts';
import { FAST_ACTIONS, failing, freePort, rulesBus, type Taskbus, WebhookReceiver } from './support.ts';

const SECRET = 'whsec-postgres-0123456789';

describe('dead-letter rules on PostgreSQL', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  async function bus(tasks: Parameters<typeof rulesBus>[0], config: Parameters<typeof rulesBus>[1]) {
    const b = await rulesBus(tasks, config, { db: postgresUrl({ schema: schemas.create() }) });
    cleanup.push(() => b.tb.close(100));
    return b;
  }
  async function receiver() {
    const hook = new WebhookReceiver(await freePort());
    await hook.start();
    cleanup.push(() => hook.stop());
    return hook;
  }
  const historyTypes = async (tb: Taskbus, id: string) =>
    (await tb.getTask(id))?.history.map((h) => h.type) ?? [];

  it('remedy and webhook › invoke with auto-complete removes; webhook with peek-lock keeps', async () => {
    const hook = await receiver();
    const { tb } = await bus(
      { orders: failing(), remedy: async (b: any) => ({ fixed: b.message.id }) },
      {
        deadLetters: {
          rules: [
            {
              name: 'remedy',
              when: { body: { taskType: 'certainTaskType' } },
              then: { invoke: 'remedy' },
              mode: 'auto-complete',
            },
            { name: 'notify', then: { webhook: { url: hook.url, secret: SECRET } } },
          ],
          actions: FAST_ACTIONS,
        },
      },
    );
    const certain = await tb.enqueue('orders', { taskType: 'certainTaskType' });
    const other = await tb.enqueue('orders', { taskType: 'other' });
    await waitFor(async () => (await tb.browse('remedy', 'completed')).items.length === 1, 'the remedy');
    await waitFor(async () => (await tb.getTask(certain.id)) === null, 'auto-complete');
    await waitFor(
      async () => (await historyTypes(tb, other.id)).includes('rule.handled'),
      'peek-lock handled',
    );
    await settle();
    assert.equal(hook.requests.length, 1);
    assert.equal(hook.requests[0].headers['idempotency-key'], `deadletter:${other.id}:1:notify:0`);
    assert.deepEqual(await historyTypes(tb, other.id), ['rule.matched', 'rule.action', 'rule.handled']);
    assert.equal((await tb.getTask(other.id))!.state, 'deadlettered');
  });

  it('resubmit › at most N times by the rule, then the next rule; redrive by filter records who', async () => {
    const hook = await receiver();
    let calls = 0;
    const { tb, clock } = await bus(
      {
        flaky: {
          maxDeliveryCount: 1,
          handler: async () => {
            calls++;
            throw new Error('still failing');
          },
        },
      },
      {
        deadLetters: {
          rules: [
            { name: 'retry-later', then: { resubmit: { delayMs: 5000, times: 1 } } },
            { name: 'give-up', then: { webhook: { url: hook.url, secret: SECRET } } },
          ],
          actions: FAST_ACTIONS,
        },
      },
    );
    const { id } = await tb.enqueue('flaky', { region: 'eu' });
    await waitFor(
      async () => (await tb.browse('$resubmit', 'scheduled')).items.length === 1,
      'resubmit scheduled',
    );
    clock.advance(5000);
    await waitFor(() => hook.requests.length === 1, 'the fallback webhook');
    assert.equal(calls, 2);
    assert.equal(JSON.parse(hook.requests[0].body).occurrence, 2);
    await waitFor(async () => (await historyTypes(tb, id)).includes('rule.handled'), 'give-up handled');

    await tb.stopWorkers();
    const r = await redrive(
      tb,
      { filter: { task: 'flaky', body: { region: 'eu' } } },
      { by: { by: 'test' } },
    );
    assert.deepEqual(r, { resubmitted: [id], notFound: [] });
    const m = (await tb.getTask(id))!;
    assert.equal(m.state, 'queued');
    assert.deepEqual(
      m.history
        .filter((h) => h.type === 'resubmitted')
        .map((h) => [h.data.by, h.data.rule ?? h.data.selection]),
      [
        ['rule', 'retry-later'],
        ['test', 'filter'],
      ],
    );
  });
});
