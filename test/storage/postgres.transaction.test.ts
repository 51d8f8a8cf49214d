/**
 * Transactional enqueue: a task enqueued on the application's own client commits or rolls back
 * with the application's data, and is announced only when it commits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isTaskbusError } from '../../src/errors.ts';
import type { NewMessage } from '../../src/storage/driver.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { newMessage, T0 } from '../support/messages.ts';
import { eventually, POSTGRES_URL, postgresPreflight, useSchemas } from '../support/postgres.ts';

const msg = (over: Partial<NewMessage> = {}) => newMessage('welcome-email', { user: 'ada' }, over);

describe('postgres transactional enqueue', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();

  /** A driver, an application pool with its own table in the same schema, and a listener. */
  async function setup() {
    const schema = schemas.create();
    const driver = new PostgresDriver({ connectionString: POSTGRES_URL, schema, poolSize: 2 });
    await driver.migrate();
    const app = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    await app.query(`CREATE TABLE ${schema}.users (name text PRIMARY KEY)`);
    const heard: string[] = [];
    const unsubscribe = await driver.subscribe((names) => heard.push(...names));
    const users = async () => (await app.query(`SELECT name FROM ${schema}.users`)).rows.map((r) => r.name);
    const done = async () => {
      await unsubscribe();
      await driver.close();
      await app.end();
    };
    return { schema, driver, app, heard, users, done };
  }

  it('enqueue › commits with the application transaction and is announced on commit', async () => {
    const { schema, driver, app, heard, users, done } = await setup();
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${schema}.users VALUES ('ada')`);
      const m = msg();
      const [r] = await driver.enqueue({ messages: [m], now: T0, transaction: client });
      assert.deepEqual(r, { id: m.id, created: true });
      // Not visible to anyone else before the commit, and not announced.
      assert.equal(await driver.getMessage({ id: m.id, now: T0 }), null);
      await new Promise((res) => setTimeout(res, 100));
      assert.deepEqual(heard, []);
      await client.query('COMMIT');
      assert.equal((await driver.getMessage({ id: m.id, now: T0 }))?.state, 'queued');
      assert.deepEqual(await users(), ['ada']);
      await eventually(() => heard.includes('welcome-email'), 3000);
    } finally {
      client.release();
      await done();
    }
  });

  it('enqueue › rolls back with the application transaction, idempotency key included', async () => {
    const { schema, driver, app, heard, users, done } = await setup();
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${schema}.users VALUES ('bob')`);
      const m = msg({ idempotencyKey: 'signup-bob' });
      await driver.enqueue({ messages: [m, msg()], now: T0, transaction: client });
      await client.query('ROLLBACK');
      assert.equal(await driver.getMessage({ id: m.id, now: T0 }), null);
      assert.deepEqual(await users(), []);
      assert.deepEqual(await driver.counts({ now: T0 }), []);
      await new Promise((res) => setTimeout(res, 100));
      assert.deepEqual(heard, [], 'a rolled-back enqueue is never announced');
      // The key was rolled back too: the retry creates the task.
      const retry = msg({ idempotencyKey: 'signup-bob' });
      assert.deepEqual(await driver.enqueue({ messages: [retry], now: T0 }), [
        { id: retry.id, created: true },
      ]);
    } finally {
      client.release();
      await done();
    }
  });

  it('enqueue › refuses a pool as the transaction (statements would run on different connections)', async () => {
    const { driver, app, done } = await setup();
    try {
      await assert.rejects(driver.enqueue({ messages: [msg()], now: T0, transaction: app }), (e) =>
        isTaskbusError(e, 'BAD_REQUEST'),
      );
      await assert.rejects(driver.enqueue({ messages: [msg()], now: T0, transaction: {} }), (e) =>
        isTaskbusError(e, 'BAD_REQUEST'),
      );
    } finally {
      await done();
    }
  });
});
