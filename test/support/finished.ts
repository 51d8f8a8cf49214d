import assert from 'node:assert/strict';
import type { StorageDriver } from '../../src/storage/driver.ts';

/**
 * Finished messages of a store written by an older release, as [id, name, state, enqueued at]:
 * task a's three completions and two dead letters interleaved in enqueue order, and task b's one
 * completion. Each finished one tick after its enqueue.
 */
export const FINISHED_ROWS = [
  ['c1', 'a', 'completed', 1],
  ['d1', 'a', 'deadlettered', 2],
  ['c2', 'a', 'completed', 3],
  ['d2', 'a', 'deadlettered', 4],
  ['c3', 'a', 'completed', 5],
  ['b1', 'b', 'completed', 6],
] as const;

/**
 * After the upgrade to one index per finished state: the store has those indexes and not the one
 * over both, and FINISHED_ROWS are counted, listed newest first per state, and expired (every
 * completion past retention, no dead letter).
 */
export async function assertFinishedByState(d: StorageDriver, indexes: string[]): Promise<void> {
  assert.ok(
    indexes.includes('messages_completed_by_name') && indexes.includes('messages_deadlettered_by_name'),
  );
  assert.ok(!indexes.includes('messages_settled'), 'the index over both states is gone');
  const counts = await d.counts({ now: 100 });
  assert.deepEqual(
    counts.map((c) => [c.name, c.completed, c.deadlettered]),
    [
      ['a', 3, 2],
      ['b', 1, 0],
    ],
  );
  const ids = async (state: 'completed' | 'deadlettered') =>
    (await d.browse({ name: 'a', state, limit: 10, now: 100 })).items.map((m) => m.id);
  assert.deepEqual(await ids('completed'), ['c3', 'c2', 'c1']);
  assert.deepEqual(await ids('deadlettered'), ['d2', 'd1']);
  const r = await d.maintain({ now: 100, completedRetentionMs: 50, idempotencyRetentionMs: 50, limit: 10 });
  assert.equal(r.deletedMessages, 4);
  assert.deepEqual(await ids('deadlettered'), ['d2', 'd1']);
  assert.deepEqual(await ids('completed'), []);
}
