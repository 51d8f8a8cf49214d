/**
 * Connection loss: after pg_terminate_backend of every connection of a driver, the pool serves
 * the next statements on new connections, the listener reconnects by itself and reports every
 * waiting task name (notifications sent meanwhile are lost); a statement cut off mid-flight and a
 * server that is not there are STORAGE_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isTaskbusError } from '../../src/errors.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { newMessage, T0 } from '../support/messages.ts';
import {
  eventually,
  POSTGRES_URL,
  postgresPreflight,
  postgresUrl,
  terminateBackends,
  useSchemas,
} from '../support/postgres.ts';

const msg = (name: string) => newMessage(name);
const unavailable = (e: unknown) => isTaskbusError(e, 'STORAGE_UNAVAILABLE');

describe('postgres reconnect', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();

  /** A driver whose connections carry a unique application_name, so only they are terminated. */
  async function open() {
    const app = `tb-test-${randomBytes(4).toString('hex')}`;
    const schema = schemas.create();
    const driver = new PostgresDriver({
      connectionString: postgresUrl({ application_name: app }),
      schema,
      poolSize: 3,
    });
    await driver.migrate();
    return { app, schema, driver };
  }

  it('subscribe › the listener and the pool come back by themselves after pg_terminate_backend', async () => {
    const { app, schema, driver } = await open();
    const other = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    const heard: string[] = [];
    await driver.subscribe((names) => heard.push(...names));
    try {
      await other.enqueue({ messages: [msg('waiting')], now: T0 });
      await eventually(() => heard.includes('waiting'), 3000);
      assert.equal(driver.listenerState?.reconnects, 0);
      heard.length = 0;

      const killed = await terminateBackends(app);
      assert.ok(killed >= 2, `the listener and at least one pooled connection were terminated (${killed})`);

      // Reconnected, and told about every waiting name since announcements may have been lost.
      await eventually(
        () => (driver.listenerState?.reconnects ?? 0) >= 1 && heard.includes('waiting'),
        10_000,
      );
      assert.equal(driver.listenerState?.connected, true);

      // The pool replaced its dead connections (at most the first use may see the loss).
      await eventually(async () => {
        try {
          await driver.ping();
          return true;
        } catch (e) {
          assert.ok(unavailable(e), String(e));
          return false;
        }
      }, 5000);
      const got = await driver.receive({
        name: 'waiting',
        limit: 5,
        lockDurationMs: 1000,
        workerId: 'w',
        now: T0,
      });
      assert.equal(got.length, 1);

      // Announcements flow again on the new listening connection.
      heard.length = 0;
      await other.enqueue({ messages: [msg('after')], now: T0 });
      await eventually(() => heard.includes('after'), 3000);
    } finally {
      await driver.close();
      await other.close();
    }
  });

  it('errors › a statement whose connection is terminated mid-flight is STORAGE_UNAVAILABLE', async () => {
    const { app, schema, driver } = await open();
    const blocker = new pg.Client({ connectionString: POSTGRES_URL });
    blocker.on('error', () => {});
    await blocker.connect();
    try {
      await driver.enqueue({ messages: [msg('a')], now: T0 });
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${schema}.messages IN ACCESS EXCLUSIVE MODE`);
      const stuck = assert.rejects(
        driver.receive({ name: 'a', limit: 1, lockDurationMs: 1000, workerId: 'w', now: T0 }),
        unavailable,
      );
      await eventually(
        async () =>
          (
            await blocker.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
              [app],
            )
          ).rowCount === 1,
        5000,
      );
      await terminateBackends(app);
      await stuck;
      await blocker.query('ROLLBACK');
      await eventually(async () => {
        try {
          return (
            (await driver.receive({ name: 'a', limit: 1, lockDurationMs: 1000, workerId: 'w', now: T0 }))
              .length === 1
          );
        } catch (e) {
          assert.ok(unavailable(e), String(e));
          return false;
        }
      }, 5000);
    } finally {
      await blocker.end();
      await driver.close();
    }
  });

  it('errors › a server that is not there is STORAGE_UNAVAILABLE; subscribe keeps retrying quietly', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const driver = new PostgresDriver({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    try {
      await assert.rejects(driver.ping(), unavailable);
      await assert.rejects(driver.migrate(), unavailable);
      await assert.rejects(driver.enqueue({ messages: [msg('a')], now: T0 }), unavailable);
      const unsubscribe = await driver.subscribe(() => {});
      assert.equal(driver.listenerState?.connected, false);
      await unsubscribe();
    } finally {
      await driver.close();
    }
  });
});
