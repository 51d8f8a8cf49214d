import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteDriver } from '../../src/storage/sqlite/driver.ts';
import { newMessage, T0 } from '../support/messages.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-group-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite group commit', () => {
  it('enqueue › a failure that rolls back the whole transaction fails the whole group and stores nothing', async () => {
    const file = join(dir, 'rollback.db');
    const d = new SqliteDriver({ filename: file });
    await d.migrate();
    // What a full disk or an I/O error does to a transaction, made on demand: an insert of task
    // `doomed` rolls back the whole transaction, not only its statement.
    const other = new Database(file);
    other.exec(`CREATE TRIGGER doom BEFORE INSERT ON messages WHEN NEW.name = 'doomed'
      BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END`);
    other.close();
    const results = await Promise.allSettled([
      d.enqueue({ messages: [newMessage('a', 1)], now: T0 }),
      d.enqueue({ messages: [newMessage('doomed', 2)], now: T0 }),
      d.enqueue({ messages: [newMessage('a', 3), newMessage('a', 4)], now: T0 }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'rejected'],
    );
    const [a] = await d.counts({ now: T0, names: ['a'] });
    assert.equal(a.queued, 0, 'nothing stored for a caller told it failed');
    const [later] = await d.enqueue({ messages: [newMessage('a', 5)], now: T0 });
    assert.ok(later.created, 'the next group commits');
    await d.close();
  });
});
