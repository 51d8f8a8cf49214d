// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyWebhookSignature } from '../../src/deadletter/signature.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { waitFor } from '../support/wait.ts';
import { freePort, WebhookReceiver } from './support.ts';

const KEY = 'deadletter-master-key-0123456789';
const SECRET = 'whsec-server-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'taskbus-dl-server-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(
  join(tasks, 'orders.mjs'),
  `export default { maxDeliveryCount: 2, backoff: { type: 'none' }, handler: async (b) => {
  throw new Error('cannot ship order ' + b.orderId);
} };`,
);
writeFileSync(
  join(tasks, 'remedy.mjs'),
  'export default async (b) => ({ remedied: b.message.id, reason: b.reason });',
);

describe('taskbus start with dead-letter rules (real server)', () => {
  it('config file › rules run in the server: remedy invoked, webhook signed, dry run over HTTP', async () => {
    const hook = new WebhookReceiver(await freePort());
    await hook.start();
    const config = join(dir, 'taskbus.config.mjs');
    writeFileSync(
      config,
      `export default {
  deadLetters: {
    rules: [
      {
        name: 'remedy-certain',
        when: { body: { taskType: 'certainTaskType' } },
        then: [{ invoke: 'remedy' }, { webhook: { url: '${hook.url}', secret: '${SECRET}' } }],
        mode: 'auto-complete',
      },
    ],
  },
};
`,
    );
    let server: RunningServer | null = null;
    try {
      server = await startServer(
        'all',
        { tasks, db: join(dir, 'server.db'), port: 0, config },
        { TASKBUS_MASTER_KEY: KEY, TASKBUS_LOG_LEVEL: 'silent' },
        () => {},
      );
      const base = `http://127.0.0.1:${server.port}`;
      const headers = { 'x-functions-key': KEY, 'content-type': 'application/json' };
      const post = (body: unknown) =>
        fetch(`${base}/api/orders`, { method: 'POST', headers, body: JSON.stringify(body) }).then((r) =>
          r.json(),
        );
      const certain = await post({ taskType: 'certainTaskType', orderId: 7 });
      const other = await post({ taskType: 'other', orderId: 8 });

      await waitFor(() => hook.requests.length === 1, 'the webhook');
      const req = hook.requests[0];
      assert.equal(
        verifyWebhookSignature(SECRET, req.body, req.headers['taskbus-signature'] as string),
        true,
      );
      assert.equal(JSON.parse(req.body).message.id, certain.id);
      assert.equal(JSON.parse(req.body).lastError, 'Error: cannot ship order 7');
      const remedy = await waitFor(async () => {
        const page = await fetch(`${base}/admin/tasks/remedy/messages?state=completed`, { headers }).then(
          (r) => r.json(),
        );
        return page.items[0];
      }, 'the remedy to complete');
      assert.deepEqual(remedy.result, { remedied: certain.id, reason: 'MaxDeliveryCountExceeded' });
      // auto-complete: gone from the DLQ once both actions succeeded.
      await waitFor(
        async () => (await fetch(`${base}/admin/messages/${certain.id}`, { headers })).status === 404,
        'removal',
      );

      const doc = await waitFor(async () => {
        const d = await fetch(`${base}/admin/messages/${other.id}`, { headers }).then((r) => r.json());
        return d.history?.length ? d : null;
      }, 'the other message to be evaluated');
      assert.equal(doc.status, 'deadlettered');
      assert.deepEqual(
        doc.history.map((h: { type: string }) => h.type),
        ['rule.unmatched'],
      );
      const dry = await fetch(`${base}/admin/deadletter/rules/test`, { headers }).then((r) => r.json());
      assert.deepEqual(
        dry.messages.map((m: { id: string; rule: string | null }) => [m.id, m.rule]),
        [[other.id, null]],
      );
    } finally {
      await server?.stop(1000);
      await hook.stop();
    }
  });
});
