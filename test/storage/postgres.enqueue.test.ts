/**
 * Group commit: enqueue calls that arrive together share one INSERT and one commit, and every
 * call resolves only once its rows are committed (visible to another process).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../src/id.ts';
import { jsonBody } from '../../src/storage/common.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { adminQuery, POSTGRES_URL, postgresPreflight, useSchemas } from '../support/postgres.ts';

const T0 = 1_800_000_000_000;

describe('postgres enqueue', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();

  it('enqueue › 300 concurrent calls share one commit and each resolves once committed', async () => {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    const other = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      const ids = Array.from({ length: 300 }, () => newId(T0));
      const seen = await Promise.all(
        ids.map(async (id, i) => {
          const message = { id, name: 'a', body: jsonBody(i), visibleAt: T0, expiresAt: null };
          await d.enqueue({
            messages: [{ ...message, idempotencyKey: null, traceparent: null }],
            now: T0 + i,
          });
          return (await other.getMessage({ id, now: T0 + i }))?.enqueuedAt;
        }),
      );
      assert.deepEqual(
        seen,
        ids.map((_, i) => T0 + i),
        'each call is visible to another process when it resolves, with its own enqueue time',
      );
      // Rows written by one transaction share its id (xmin): 300 calls, one commit.
      const commits = await adminQuery(`SELECT count(DISTINCT xmin::text)::int AS n FROM ${schema}.messages`);
      assert.equal(commits.rows[0].n, 1);
    } finally {
      await d.close();
      await other.close();
    }
  });

  it('enqueue › calls arriving, one per event-loop turn, while a statement commits share the next one', async () => {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    try {
      await d.migrate();
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        const message = { id: newId(T0), name: 'a', body: jsonBody(i), visibleAt: T0, expiresAt: null };
        calls.push(
          d.enqueue({ messages: [{ ...message, idempotencyKey: null, traceparent: null }], now: T0 }),
        );
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(calls);
      // One statement per turn would be 30 commits; one statement in flight at a time lets the
      // calls of the turns it takes to commit wait and go together (2 commits in runs here).
      const commits = await adminQuery(`SELECT count(DISTINCT xmin::text)::int AS n FROM ${schema}.messages`);
      assert.ok(commits.rows[0].n <= 20, `30 calls in ${commits.rows[0].n} commits`);
      assert.equal((await adminQuery(`SELECT count(*)::int AS n FROM ${schema}.messages`)).rows[0].n, 30);
    } finally {
      await d.close();
    }
  });

  it('close › writes the enqueues already requested before releasing the connections', async () => {
    const schema = schemas.create();
    const d = new PostgresDriver({ connectionString: POSTGRES_URL, schema });
    await d.migrate();
    const id = newId(T0);
    const pending = d.enqueue({
      messages: [
        {
          id,
          name: 'a',
          body: jsonBody(1),
          visibleAt: T0,
          expiresAt: null,
          idempotencyKey: null,
          traceparent: null,
        },
      ],
      now: T0,
    });
    await d.close();
    assert.deepEqual(await pending, [{ id, created: true }]);
    const r = await adminQuery(`SELECT count(*)::int AS n FROM ${schema}.messages WHERE id = $1`, [id]);
    assert.equal(r.rows[0].n, 1);
  });
});
