import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteDriver } from '../../src/storage/sqlite/driver.ts';
import { newMessage, T0 } from '../support/messages.ts';
import { waitFor } from '../support/wait.ts';

describe('SQLite checkpoints', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-checkpoint-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checkpoint › committed pages reach the database file from the background thread, not the writer', async () => {
    const file = join(dir, 'a.db');
    const d = new SqliteDriver({ filename: file });
    await d.migrate();
    const pageSize = 4096;
    // ~1.5 MB of WAL: far below the writer's own threshold (4,000 pages), so only the background
    // thread can have copied it into the database file.
    for (let i = 0; i < 15; i++) {
      await d.enqueue({
        now: T0,
        messages: Array.from({ length: 100 }, () => newMessage('a', 'x'.repeat(600))),
      });
    }
    const wal = statSync(`${file}-wal`).size;
    assert.ok(wal > 300 * pageSize, `the WAL holds the commits (${wal} bytes)`);
    const size = await waitFor(() => {
      const s = statSync(file).size;
      return s > 300 * pageSize ? s : false;
    }, 'a checkpoint into the database file');
    assert.ok(size > 300 * pageSize);
    assert.equal((await d.counts({ now: T0 }))[0].queued, 1500);
    await d.close();
  });

  it('close › the file can be deleted and created anew at once: no connection left to remove its WAL', async () => {
    const file = join(dir, 'again.db');
    const remove = () => {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    };
    const open = async () => {
      const d = new SqliteDriver({ filename: file });
      await d.migrate();
      return d;
    };
    for (let round = 0; round < 5; round++) {
      remove();
      const first = await open();
      // Several megabytes of WAL, so the background thread is still checkpointing them as the
      // driver closes and the files are deleted.
      for (let i = 0; i < 8; i++) {
        await first.enqueue({
          now: T0,
          messages: Array.from({ length: 250 }, () => newMessage('a', 'x'.repeat(4000))),
        });
      }
      await first.close();
      remove();
      const second = await open();
      await second.enqueue({ now: T0, messages: [newMessage('b', round)] });
      // Time for a connection the first driver left open to close, and take this WAL with it.
      await new Promise((r) => setTimeout(r, 200));
      await second.enqueue({ now: T0, messages: [newMessage('b', round)] });
      await second.close();
      const third = await open();
      assert.deepEqual(
        (await third.counts({ now: T0 })).map((c) => [c.name, c.queued]),
        [['b', 2]],
        `round ${round}: both enqueues of the new database survive`,
      );
      await third.close();
    }
  });

  it('counts › the history is counted on the background thread, with the event loop free meanwhile', async () => {
    const d = new SqliteDriver({ filename: join(dir, 'counts.db') });
    await d.migrate();
    await d.enqueue({ now: T0, messages: Array.from({ length: 30 }, () => newMessage('a')) });
    const got = await d.receive({ name: 'a', limit: 20, lockDurationMs: 60_000, workerId: 'w', now: T0 });
    const attempt = { startedAt: T0, endedAt: T0, worker: 'w', error: null };
    await d.settle({
      now: T0,
      settlements: got.map((m, i) =>
        i % 2
          ? {
              kind: 'deadletter' as const,
              id: m.id,
              lockToken: m.lockToken,
              reason: 'R',
              description: '',
              attempt,
            }
          : { kind: 'complete' as const, id: m.id, lockToken: m.lockToken, result: null, attempt },
      ),
    });
    // Counted on this thread, the answer would be ready within a few microtasks; from the
    // background thread it can only arrive as a message, in a later turn of the event loop.
    let answered = false;
    const counting = d.counts({ now: T0 }).then((r) => {
      answered = true;
      return r;
    });
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(answered, false, 'not answered synchronously, on the event loop');
    const [c] = await counting;
    assert.deepEqual(
      { queued: c.queued, completed: c.completed, deadlettered: c.deadlettered },
      { queued: 10, completed: 10, deadlettered: 10 },
    );
    await d.close();
  });

  it('checkpoint › an in-memory database has no file and no background checkpoints', async () => {
    const d = new SqliteDriver({ filename: ':memory:' });
    await d.migrate();
    await d.enqueue({ now: T0, messages: [newMessage('a')] });
    assert.equal((await d.counts({ now: T0 }))[0].queued, 1);
    await d.close();
  });
});
