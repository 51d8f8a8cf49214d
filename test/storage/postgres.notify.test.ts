/**
 * LISTEN/NOTIFY: a message made visible in one process wakes subscribers in every other process
 * sharing the schema (and no other schema), on commit; a worker that polls once a minute still
 * runs a task enqueued elsewhere within moments.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonBody, settleOne } from '../../src/storage/common.ts';
import type { NewMessage } from '../../src/storage/driver.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { createTaskbus } from '../../src/taskbus.ts';
import { newMessage, T0 } from '../support/messages.ts';
import { eventually, POSTGRES_URL, postgresPreflight, useSchemas } from '../support/postgres.ts';

const msg = (name: string, over: Partial<NewMessage> = {}) => newMessage(name, 1, over);
const attempt = { startedAt: T0, endedAt: T0, worker: 'w', error: null };

describe('postgres notifications', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();
  const open = async (schema: string) => {
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema, poolSize: 2 });
    await d.migrate();
    return d;
  };

  it('subscribe › enqueue, immediate abandon, resubmit and rescue in another process wake the subscriber', async () => {
    const schema = schemas.create();
    const [listener, sender] = [await open(schema), await open(schema)];
    const heard: string[] = [];
    const unsubscribe = await listener.subscribe((names) => heard.push(...names));
    try {
      await sender.enqueue({ messages: [msg('a')], now: T0 });
      await eventually(() => heard.includes('a'), 3000);

      heard.length = 0;
      await sender.enqueue({ messages: [msg('later', { visibleAt: T0 + 60_000 })], now: T0 });
      const [m] = await sender.receive({ name: 'a', limit: 1, lockDurationMs: 1000, workerId: 'w', now: T0 });
      await settleOne(
        sender,
        { kind: 'abandon', id: m.id, lockToken: m.lockToken, visibleAt: T0 + 1, attempt },
        T0 + 1,
      );
      await eventually(() => heard.includes('a'), 3000);
      assert.ok(!heard.includes('later'), 'a message scheduled for later is not announced');

      heard.length = 0;
      const [again] = await sender.receive({
        name: 'a',
        limit: 1,
        lockDurationMs: 1000,
        workerId: 'w',
        now: T0 + 1,
      });
      await settleOne(
        sender,
        { kind: 'deadletter', id: m.id, lockToken: again.lockToken, reason: 'X', description: 'x', attempt },
        T0 + 2,
      );
      await sender.resubmit({ name: 'a', ids: [m.id], toName: 'b', now: T0 + 3 });
      await eventually(() => heard.includes('b'), 3000);

      heard.length = 0;
      const [locked] = await sender.receive({
        name: 'b',
        limit: 1,
        lockDurationMs: 10,
        workerId: 'w',
        now: T0 + 3,
      });
      const [expired] = await sender.findExpiredLocks({ now: T0 + 20, limit: 10 });
      assert.equal(expired.id, locked.id);
      const rescued = await sender.rescue({
        items: [
          { id: locked.id, lockToken: locked.lockToken, outcome: 'retry', visibleAt: T0 + 20, attempt },
        ],
        now: T0 + 20,
      });
      assert.deepEqual(rescued, [locked.id]);
      await eventually(() => heard.includes('b'), 3000);
    } finally {
      await unsubscribe();
      await listener.close();
      await sender.close();
    }
  });

  it('subscribe › hears only its own schema', async () => {
    const [mine, other] = [await open(schemas.create()), await open(schemas.create())];
    const heard: string[] = [];
    await mine.subscribe((names) => heard.push(...names));
    try {
      await other.enqueue({ messages: [msg('theirs')], now: T0 });
      await mine.enqueue({ messages: [msg('ours')], now: T0 });
      await eventually(() => heard.includes('ours'), 3000);
      assert.ok(!heard.includes('theirs'));
    } finally {
      await mine.close();
      await other.close();
    }
  });

  it('worker › runs a task enqueued by another process at once although it polls once a minute', async () => {
    const schema = schemas.create();
    const sender = await open(schema);
    const ran: unknown[] = [];
    const tb = await createTaskbus({
      tasks: { hello: async (body: unknown) => void ran.push(body) },
      driver: await open(schema),
      worker: { pollIntervalMs: 60_000, rescueIntervalMs: 60_000 },
    });
    try {
      await tb.startWorkers();
      // Let the first (startup) receive pass, so only a notification can explain a quick run.
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      await sender.enqueue({
        messages: [msg('hello', { body: jsonBody({ n: 1 }), visibleAt: Date.now() })],
        now: Date.now(),
      });
      await eventually(() => ran.length === 1, 5000, 5);
      assert.deepEqual(ran, [{ n: 1 }]);
      assert.ok(Date.now() - started < 2000, `ran after ${Date.now() - started} ms`);
    } finally {
      await tb.close(1000);
      await sender.close();
    }
  });
});
