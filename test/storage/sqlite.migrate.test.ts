import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteDriver } from '../../src/storage/sqlite/driver.ts';
import { MIGRATIONS } from '../../src/storage/sqlite/migrations.ts';
import { COUNT_SETTLED } from '../../src/storage/sqlite/statements.ts';
import { assertFinishedByState, FINISHED_ROWS } from '../support/finished.ts';
import { T0 } from '../support/messages.ts';

/** A store as a release with migrations 1 to `version` left it, open for writing its rows. */
function storeAt(file: string, version: number): Database.Database {
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)');
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    old.exec(m.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, T0);
  }
  return old;
}

describe('SQLite migrations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskbus-migrate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('migrate › a store written before version 4 keeps each completed task with exactly its attempts and in the activity chart', async () => {
    const file = join(dir, 'v3.db');
    // The schema and rows as a release with migrations 1–3 wrote them: the successful attempt
    // of a completed message is a row of `attempts`.
    const old = storeAt(file, 3);
    const id = '01a00000-0000-7000-8000-000000000001';
    old
      .prepare(`INSERT INTO messages (id, name, state, body, enqueued_at, visible_at, delivery_count, attempt_count,
        locked_at, locked_by, completed_at, result) VALUES (?, 'a', 'completed', '1', ?, ?, 2, 2, ?, 'w1', ?, '{"ok":true}')`)
      .run(id, T0, T0, T0 + 10, T0 + 20);
    const attempt = old.prepare('INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?)');
    attempt.run(id, 1, T0, T0 + 5, 'w1', JSON.stringify({ name: 'Error', message: 'first' }));
    attempt.run(id, 2, T0 + 10, T0 + 20, 'w1', null);
    old.close();

    const d = new SqliteDriver({ filename: file });
    await d.migrate();
    const m = await d.getMessage({ id, now: T0 + 30 });
    assert.deepEqual(
      m!.attempts.map((a) => [a.number, a.startedAt, a.endedAt, a.error?.message ?? null]),
      [
        [1, T0, T0 + 5, 'first'],
        [2, T0 + 10, T0 + 20, null],
      ],
    );
    const [c] = await d.counts({ now: T0 + 30 });
    assert.equal(c.completed, 1);
    assert.deepEqual(
      (await d.browse({ name: 'a', state: 'completed', limit: 10, now: T0 + 30 })).items.map((x) => x.id),
      [id],
    );
    // Version 5 counts completions per minute: the ones already stored are counted at upgrade.
    assert.deepEqual(await d.activity({ since: T0, now: T0 + 60_000, bucketMs: 60_000 }), [
      { name: 'a', at: T0, completed: 1, failed: 1, deadlettered: 0 },
    ]);
    await d.close();
  });

  it('migrate › a version-5 store lists, counts and expires its finished messages through one index per state', async () => {
    const file = join(dir, 'v5.db');
    const old = storeAt(file, 5);
    const insert =
      old.prepare(`INSERT INTO messages (id, name, state, body, enqueued_at, visible_at, completed_at,
      deadlettered_at, dead_letter_reason) VALUES (?, ?, ?, 'null', ?, ?, ?, ?, ?)`);
    for (const [id, name, state, at] of FINISHED_ROWS) {
      const dead = state === 'deadlettered';
      insert.run(
        id,
        name,
        state,
        at,
        at,
        dead ? null : at + 1,
        dead ? at + 1 : null,
        dead ? 'MaxDeliveryCountExceeded' : null,
      );
    }
    old.close();

    const d = new SqliteDriver({ filename: file });
    await d.migrate();
    const check = new Database(file, { readonly: true });
    const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as {
      name: string;
    }[];
    // Counted from the indexes alone, one per state.
    const plan = (check.prepare(`EXPLAIN QUERY PLAN ${COUNT_SETTLED}`).all() as { detail: string }[])
      .map((r) => r.detail)
      .join('\n');
    assert.match(plan, /USING COVERING INDEX messages_completed_by_name/);
    assert.match(plan, /USING COVERING INDEX messages_deadlettered_by_name/);
    check.close();
    await assertFinishedByState(
      d,
      indexes.map((r) => r.name),
    );
    await d.close();
  });
});
