/**
 * The storage driver contract: every behaviour a driver must have, run unchanged against every
 * driver (SQLite file, SQLite :memory:, PostgreSQL). Time is passed as `now`; nothing sleeps.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { decideFailure, LOCK_EXPIRED_ERROR } from '../../src/core/decide.ts';
import { isTaskbusError } from '../../src/errors.ts';
import { DEADLETTER_EVENT_TASK, jsonBody, settleOne } from '../../src/storage/common.ts';
import type {
  DriverOptions,
  NewMessage,
  ReceivedMessage,
  Settlement,
  StorageDriver,
} from '../../src/storage/driver.ts';
import type { Json } from '../../src/types.ts';
import { newMessage, T0 } from '../support/messages.ts';

/**
 * Opens a driver on the test's database. Called once per test for a fresh database (`fresh`
 * true), then again within the same test for more connections to the same database, as other
 * processes would have. A driver that cannot share a database across connections (SQLite
 * :memory:) returns a fresh one and sets `sharesDatabase` false on the suite options.
 */
export type DriverFactory = (options: DriverOptions & { fresh: boolean }) => Promise<StorageDriver>;

export interface ContractOptions {
  /** False when a second connection sees another database (SQLite :memory:). */
  sharesDatabase?: boolean;
}

const LOCK = 30_000;
const W = 'worker-1';

const msg = newMessage;

const attempt = (start: number, error: { name: string; message: string } | null = null) => ({
  startedAt: start,
  endedAt: start + 5,
  worker: W,
  error,
});

export function driverContract(label: string, open: DriverFactory, suite: ContractOptions = {}): void {
  describe(`driver contract: ${label}`, () => {
    let d: StorageDriver;
    const opened: StorageDriver[] = [];
    const openDriver = async (o: DriverOptions = {}, fresh = false) => {
      const x = await open({ ...o, fresh });
      await x.migrate();
      opened.push(x);
      return x;
    };
    beforeEach(async () => {
      d = await openDriver({}, true);
    });
    afterEach(async () => {
      for (const x of opened.splice(0)) await x.close();
    });

    const put = async (name: string, body: unknown, over: Partial<NewMessage> = {}, now = T0) => {
      const [r] = await d.enqueue({ messages: [msg(name, body, over, now)], now });
      return r.id;
    };
    const take = (name: string, now = T0, limit = 10, lockDurationMs = LOCK) =>
      d.receive({ name, limit, lockDurationMs, workerId: W, now });

    it('migrate › is idempotent', async () => {
      await d.migrate();
      await d.migrate();
      assert.equal((await d.counts({ now: T0 })).length, 0);
    });

    it('enqueue › stores a message that getMessage returns as queued', async () => {
      const id = await put(
        'a',
        { x: 1 },
        { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      );
      const m = await d.getMessage({ id, now: T0 });
      assert.ok(m);
      assert.equal(m.state, 'queued');
      assert.equal(m.name, 'a');
      assert.deepEqual(JSON.parse((m.body as { json: string }).json), { x: 1 });
      assert.equal(m.deliveryCount, 0);
      assert.equal(m.enqueuedAt, T0);
      assert.equal(m.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      assert.deepEqual(m.attempts, []);
    });

    it('enqueue › keeps a bytes body and its content type', async () => {
      const bytes = Buffer.from([0, 1, 2, 255]);
      const [r] = await d.enqueue({
        messages: [{ ...msg('a', null), body: { kind: 'bytes', bytes, contentType: 'image/png' } }],
        now: T0,
      });
      const [got] = await take('a');
      assert.equal(got.id, r.id);
      assert.deepEqual(got.body, { kind: 'bytes', bytes, contentType: 'image/png' });
    });

    it('enqueue › a batch is all or nothing', async () => {
      const first = msg('a', 1);
      await assert.rejects(
        d.enqueue({ messages: [first, msg('a', 2), { ...msg('a', 3), id: first.id }], now: T0 }),
      );
      assert.equal(await d.getMessage({ id: first.id, now: T0 }), null);
      const ok = await d.enqueue({ messages: [msg('a', 1), msg('a', 2)], now: T0 });
      assert.equal(ok.length, 2);
      assert.ok(ok.every((r) => r.created));
    });

    it('enqueue › a batch of 150 is stored whole, or not at all when its last message fails', async () => {
      const batch = Array.from({ length: 150 }, (_, i) => msg('a', i));
      const bad = [...batch.slice(0, 149), { ...msg('a', 149), id: batch[0].id }];
      await assert.rejects(d.enqueue({ messages: bad, now: T0 }));
      assert.equal((await d.counts({ now: T0, names: ['a'] }))[0]?.queued ?? 0, 0);
      const ok = await d.enqueue({ messages: batch, now: T0 });
      assert.deepEqual(
        ok.map((r) => r.id),
        batch.map((m) => m.id),
      );
      assert.equal((await d.counts({ now: T0, names: ['a'] }))[0].queued, 150);
    });

    it('enqueue › concurrent calls commit independently: a failing batch fails alone', async () => {
      const dup = msg('a', 2);
      const results = await Promise.allSettled([
        d.enqueue({ messages: [msg('a', 1)], now: T0 }),
        d.enqueue({ messages: [dup, { ...msg('a', 3), id: dup.id }], now: T0 }),
        d.enqueue({ messages: [msg('a', 4), msg('a', 5)], now: T0 }),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal(await d.getMessage({ id: dup.id, now: T0 }), null);
      assert.equal((await d.counts({ now: T0, names: ['a'] }))[0].queued, 3);
    });

    it('enqueue › an idempotency key returns the first message within 24 h, per task name', async () => {
      const a = await d.enqueue({ messages: [msg('a', 1, { idempotencyKey: 'k' })], now: T0 });
      const b = await d.enqueue({ messages: [msg('a', 2, { idempotencyKey: 'k' })], now: T0 + 1000 });
      assert.deepEqual(b, [{ id: a[0].id, created: false }]);
      const other = await d.enqueue({ messages: [msg('b', 3, { idempotencyKey: 'k' })], now: T0 + 1000 });
      assert.equal(other[0].created, true);
      const later = await d.enqueue({
        messages: [msg('a', 4, { idempotencyKey: 'k' })],
        now: T0 + 86_400_001,
      });
      assert.equal(later[0].created, true);
      assert.notEqual(later[0].id, a[0].id);
      const c = await d.counts({ now: T0 + 86_400_001, names: ['a'] });
      assert.equal(c[0].queued, 2);
    });

    it('receive › does not deliver a scheduled message before it is visible', async () => {
      const id = await put('a', 1, { visibleAt: T0 + 5000 });
      assert.equal((await d.getMessage({ id, now: T0 }))!.state, 'scheduled');
      assert.equal((await take('a', T0 + 4999)).length, 0);
      const got = await take('a', T0 + 5000);
      assert.deepEqual(
        got.map((m) => m.id),
        [id],
      );
    });

    it('receive › locks the message, counts the delivery and mints a lock token', async () => {
      const id = await put('a', 1);
      const [m] = await take('a');
      assert.equal(m.id, id);
      assert.equal(m.deliveryCount, 1);
      assert.equal(m.lockedUntil, T0 + LOCK);
      assert.ok(m.lockToken.length >= 16);
      const rec = await d.getMessage({ id, now: T0 + 1 });
      assert.equal(rec!.state, 'running');
      assert.equal(rec!.lockedBy, W);
      assert.equal((await take('a', T0 + 1)).length, 0, 'a locked message is not delivered twice');
    });

    it('receive › delivers oldest visible first, up to the limit, only of the named task', async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await put('a', i, { visibleAt: T0 + i }));
      await put('b', 'other');
      const got = await take('a', T0 + 10, 3);
      assert.deepEqual(
        got.map((m) => m.id),
        ids.slice(0, 3),
      );
    });

    it('receive › concurrent receivers never hold the same message', async () => {
      const n = 40;
      await d.enqueue({ messages: Array.from({ length: n }, (_, i) => msg('a', i)), now: T0 });
      const others = suite.sharesDatabase === false ? [d] : [d, await openDriver(), await openDriver()];
      const rounds = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          others[i % others.length].receive({
            name: 'a',
            limit: 5,
            lockDurationMs: LOCK,
            workerId: `w${i}`,
            now: T0,
          }),
        ),
      );
      const ids = rounds.flat().map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, 'no message delivered to two receivers');
      assert.equal(ids.length, n);
    });

    it('receive › skips a message past its TTL and expireTtl dead-letters it as TTLExpiredException', async () => {
      const id = await put('a', 1, { expiresAt: T0 + 100 });
      assert.equal((await take('a', T0 + 100)).length, 0);
      assert.deepEqual(await d.expireTtl({ now: T0 + 100, limit: 10 }), [id]);
      const m = await d.getMessage({ id, now: T0 + 100 });
      assert.equal(m!.state, 'deadlettered');
      assert.equal(m!.deadLetterReason, 'TTLExpiredException');
      assert.equal(m!.deliveryCount, 0);
    });

    it('renewLock › extends the lock and throws LockLostError once it expired', async () => {
      await put('a', 1);
      const [m] = await take('a');
      const r = await d.renewLock({
        id: m.id,
        lockToken: m.lockToken,
        lockDurationMs: LOCK,
        now: T0 + 10_000,
      });
      assert.equal(r.lockedUntil, T0 + 10_000 + LOCK);
      assert.equal((await d.findExpiredLocks({ now: T0 + LOCK, limit: 10 })).length, 0);
      await assert.rejects(
        d.renewLock({ id: m.id, lockToken: m.lockToken, lockDurationMs: LOCK, now: T0 + 10_000 + LOCK }),
        (e) => isTaskbusError(e, 'LOCK_LOST'),
      );
    });

    it('complete › stores the result and records a successful attempt', async () => {
      await put('a', 1);
      const [m] = await take('a');
      await settleOne(
        d,
        { kind: 'complete', id: m.id, lockToken: m.lockToken, result: { ok: true }, attempt: attempt(T0) },
        T0 + 5,
      );
      const rec = await d.getMessage({ id: m.id, now: T0 + 5 });
      assert.equal(rec!.state, 'completed');
      assert.deepEqual(rec!.result, { ok: true });
      assert.equal(rec!.completedAt, T0 + 5);
      assert.deepEqual(rec!.attempts, [
        { number: 1, startedAt: T0, endedAt: T0 + 5, worker: W, error: null },
      ]);
    });

    it('complete › throws LockLostError after the lock expired', async () => {
      await put('a', 1);
      const [m] = await take('a');
      await assert.rejects(
        settleOne(
          d,
          { kind: 'complete', id: m.id, lockToken: m.lockToken, result: null, attempt: attempt(T0) },
          T0 + LOCK,
        ),
        (e) => isTaskbusError(e, 'LOCK_LOST'),
      );
    });

    /** Two messages whose locks expired and were rescued; the older one is delivered again. */
    const redeliverOlder = async () => {
      await put('a', 1);
      await put('a', 2);
      const [m1, m2] = await take('a');
      assert.equal((await rescueAll(d, T0 + LOCK, 10)).length, 2);
      const [again] = await take('a', T0 + LOCK, 1);
      assert.equal(again.id, m1.id, 'oldest first: ids sort in enqueue order');
      return { m1, m2, again };
    };
    const complete = (m: ReceivedMessage, result: Json, at = T0): Settlement => ({
      kind: 'complete',
      id: m.id,
      lockToken: m.lockToken,
      result,
      attempt: attempt(at),
    });

    it('settle › a stale token loses to the current holder, per item in a batch', async () => {
      const { m1, m2, again } = await redeliverOlder();
      const outcomes = await d.settle({
        settlements: [
          complete(m1, null),
          complete(again, 2, T0 + LOCK),
          { kind: 'abandon', id: m2.id, lockToken: m2.lockToken, visibleAt: T0, attempt: attempt(T0) },
        ],
        now: T0 + LOCK + 1,
      });
      assert.deepEqual(outcomes, ['lockLost', 'ok', 'lockLost']);
      assert.equal((await d.getMessage({ id: m1.id, now: T0 + LOCK + 1 }))!.result, 2);
    });

    it('settle › in a batch of completions only, a stale token loses per item', async () => {
      const { m1, m2, again } = await redeliverOlder();
      const outcomes = await d.settle({
        settlements: [complete(m2, null), complete(again, { n: 1 }, T0 + LOCK), complete(m1, null)],
        now: T0 + LOCK + 1,
      });
      assert.deepEqual(outcomes, ['lockLost', 'ok', 'lockLost']);
      const rec = (await d.getMessage({ id: again.id, now: T0 + LOCK + 1 }))!;
      assert.equal(rec.state, 'completed');
      assert.deepEqual(rec.result, { n: 1 });
      assert.equal(rec.attempts.at(-1)!.startedAt, T0 + LOCK);
      assert.equal((await d.getMessage({ id: m2.id, now: T0 + LOCK + 1 }))!.state, 'queued');
    });

    it('settle › a batch of 150 completions completes each held lock and loses each other, item by item', async () => {
      await d.enqueue({ messages: Array.from({ length: 150 }, (_, i) => msg('a', i)), now: T0 });
      const got = await take('a', T0, 150);
      assert.equal(got.length, 150);
      // A wrong token on one item of each 64, and on the last.
      const lost = new Set([3, 70, 149]);
      const outcomes = await d.settle({
        settlements: got.map((m, i) => complete(lost.has(i) ? { ...m, lockToken: 'f'.repeat(32) } : m, i)),
        now: T0 + 1,
      });
      assert.deepEqual(
        outcomes,
        got.map((_, i) => (lost.has(i) ? 'lockLost' : 'ok')),
      );
      const [c] = await d.counts({ now: T0 + 1, names: ['a'] });
      assert.equal(c.completed, 147);
      assert.equal(c.running, 3);
      assert.equal((await d.getMessage({ id: got[100].id, now: T0 + 1 }))!.result, 100);
      assert.equal((await d.getMessage({ id: got[70].id, now: T0 + 1 }))!.state, 'running');
    });

    it('abandon › makes the message visible again at the retry time and records the error', async () => {
      const id = await put('a', 1);
      const [m] = await take('a');
      const error = { name: 'Error', message: 'boom', stack: 'Error: boom\n    at x' };
      await settleOne(
        d,
        {
          kind: 'abandon',
          id,
          lockToken: m.lockToken,
          visibleAt: T0 + 2000,
          attempt: { ...attempt(T0), error },
        },
        T0 + 5,
      );
      const rec = await d.getMessage({ id, now: T0 + 5 });
      assert.equal(rec!.state, 'scheduled');
      assert.equal(rec!.visibleAt, T0 + 2000);
      assert.deepEqual(rec!.attempts[0].error, error);
      assert.equal((await take('a', T0 + 1999)).length, 0);
      const [again] = await take('a', T0 + 2000);
      assert.equal(again.deliveryCount, 2);
    });

    it('deadletter › keeps reason, description and every attempt', async () => {
      const id = await put('a', 1);
      for (let i = 1; i <= 3; i++) {
        const now = T0 + i * 100;
        const [m] = await take('a', now);
        const outcome = decideFailure({
          deliveryCount: m.deliveryCount,
          maxDeliveryCount: 3,
          backoff: { type: 'none' },
          error: { name: 'Error', message: `fail ${i}` },
          now,
          random: () => 0,
        });
        const s =
          outcome.kind === 'retry'
            ? {
                kind: 'abandon' as const,
                id,
                lockToken: m.lockToken,
                visibleAt: outcome.visibleAt,
                attempt: attempt(now, { name: 'Error', message: `fail ${i}` }),
              }
            : {
                kind: 'deadletter' as const,
                id,
                lockToken: m.lockToken,
                reason: outcome.reason,
                description: outcome.description,
                attempt: attempt(now, { name: 'Error', message: `fail ${i}` }),
              };
        await settleOne(d, s, now + 5);
      }
      const rec = await d.getMessage({ id, now: T0 + 1000 });
      assert.equal(rec!.state, 'deadlettered');
      assert.equal(rec!.deadLetterReason, 'MaxDeliveryCountExceeded');
      assert.equal(rec!.deadLetterErrorDescription, 'Error: fail 3');
      assert.deepEqual(
        rec!.attempts.map((a) => [a.number, a.error?.message]),
        [
          [1, 'fail 1'],
          [2, 'fail 2'],
          [3, 'fail 3'],
        ],
      );
    });

    it('rescue › redelivers a message whose worker crashes every time, then dead-letters it at maxDeliveryCount', async () => {
      const id = await put('a', 1);
      let now = T0;
      for (let i = 1; i <= 4; i++) {
        const got = await take('a', now);
        assert.equal(got.length, 1, `delivery ${i}`);
        assert.equal(got[0].deliveryCount, i);
        now += LOCK; // the worker dies: the lock simply expires
        await rescueAll(d, now, 4);
      }
      const rec = await d.getMessage({ id, now });
      assert.equal(rec!.state, 'deadlettered');
      assert.equal(rec!.deadLetterReason, 'MaxDeliveryCountExceeded');
      assert.equal(rec!.attempts.length, 4);
      assert.deepEqual(rec!.attempts[3].error, LOCK_EXPIRED_ERROR);
      assert.equal((await take('a', now + 1)).length, 0);
    });

    it('rescue › leaves a lock that was renewed after it was found', async () => {
      await put('a', 1);
      const [m] = await take('a');
      const expired = await d.findExpiredLocks({ now: T0 + LOCK, limit: 10 });
      assert.equal(expired.length, 1);
      await d.renewLock({ id: m.id, lockToken: m.lockToken, lockDurationMs: LOCK, now: T0 + LOCK - 1 });
      const done = await d.rescue({
        items: [
          {
            id: m.id,
            lockToken: m.lockToken,
            outcome: 'retry',
            visibleAt: T0 + LOCK,
            attempt: attempt(T0, LOCK_EXPIRED_ERROR),
          },
        ],
        now: T0 + LOCK,
      });
      assert.deepEqual(done, []);
      assert.equal((await d.getMessage({ id: m.id, now: T0 + LOCK }))!.state, 'running');
    });

    it('setProgress › is visible on the message and needs the current token', async () => {
      const id = await put('a', 1);
      const [m] = await take('a');
      await d.setProgress({ id, lockToken: m.lockToken, progress: { pct: 50 }, now: T0 + 1 });
      assert.deepEqual((await d.getMessage({ id, now: T0 + 1 }))!.progress, { pct: 50 });
      await assert.rejects(d.setProgress({ id, lockToken: 'nope', progress: 1, now: T0 + 1 }), (e) =>
        isTaskbusError(e, 'LOCK_LOST'),
      );
    });

    it('resubmit › moves the message back with deliveryCount 0, keeps attempts and records history', async () => {
      const id = await deadLettered(d, 'a', { n: 1 });
      const other = await put('a', 'live');
      const r = await d.resubmit({
        name: 'a',
        ids: [id, other, 'missing'],
        now: T0 + 50_000,
        event: { by: 'test' },
      });
      assert.deepEqual(r, { resubmitted: [id], notFound: [other, 'missing'] });
      const rec = await d.getMessage({ id, now: T0 + 50_000 });
      assert.equal(rec!.state, 'queued');
      assert.equal(rec!.deliveryCount, 0);
      assert.equal(rec!.deadLetterReason, null);
      assert.equal(rec!.deadLetterErrorDescription, null);
      assert.equal(rec!.attempts.length, 1);
      assert.equal(rec!.history.length, 1);
      assert.equal(rec!.history[0].type, 'resubmitted');
      assert.equal(rec!.history[0].data.reason, 'Boom');
      assert.equal(rec!.history[0].data.by, 'test');
      const [again] = await take('a', T0 + 50_000);
      assert.equal(again.id, id);
      assert.equal(again.deliveryCount, 1);
      await settleOne(
        d,
        { kind: 'complete', id, lockToken: again.lockToken, result: null, attempt: attempt(T0 + 50_000) },
        T0 + 50_001,
      );
      const done = await d.getMessage({ id, now: T0 + 50_001 });
      assert.deepEqual(
        done!.attempts.map((a) => a.number),
        [1, 2],
        'attempt numbering continues across resubmits',
      );
    });

    it('resubmit › all, with an edited body, to another task', async () => {
      const a = await deadLettered(d, 'a', 1);
      const b = await deadLettered(d, 'a', 2);
      const r = await d.resubmit({
        name: 'a',
        all: true,
        body: jsonBody({ fixed: true }),
        toName: 'b',
        now: T0 + 50_000,
      });
      assert.deepEqual(r.resubmitted.sort(), [a, b].sort());
      const got = await take('b', T0 + 50_000);
      assert.equal(got.length, 2);
      assert.deepEqual(JSON.parse((got[0].body as { json: string }).json), { fixed: true });
      assert.equal((await d.counts({ now: T0 + 50_000, names: ['a'] }))[0].deadlettered, 0);
    });

    it('purge › deletes the dead letters of one task only', async () => {
      await deadLettered(d, 'a', 1);
      const keep = await deadLettered(d, 'b', 1);
      const live = await put('a', 'live');
      assert.deepEqual(await d.purge({ name: 'a', now: T0 }), { purged: 1 });
      assert.ok(await d.getMessage({ id: keep, now: T0 }));
      assert.ok(await d.getMessage({ id: live, now: T0 }));
      assert.deepEqual(await d.purge({ name: 'b', ids: [keep, live], now: T0 }), { purged: 1 });
    });

    it('counts › per state, with the oldest queued message', async () => {
      await put('a', 1, { visibleAt: T0 + 10_000 });
      await put('a', 2, {}, T0 - 500);
      await put('a', 3);
      await put('a', 4);
      const [run] = await take('a', T0, 1);
      await deadLettered(d, 'b', 1);
      const c = await d.counts({ now: T0 });
      const a = c.find((x) => x.name === 'a')!;
      assert.deepEqual(
        { s: a.scheduled, q: a.queued, r: a.running, c: a.completed, d: a.deadlettered },
        { s: 1, q: 2, r: 1, c: 0, d: 0 },
      );
      assert.equal(a.oldestQueuedAt, T0);
      assert.ok(run);
      assert.equal(c.find((x) => x.name === 'b')!.deadlettered, 1);
      const expiredLock = await d.counts({ now: T0 + LOCK, names: ['a'] });
      assert.equal(expiredLock[0].queued, 4, 'an expired lock counts as queued, the scheduled one is due');
      assert.equal(expiredLock[0].running, 0);
    });

    it('browse › pages newest first by enqueue time in one state', async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await put('a', i, {}, T0 + i));
      await take('a', T0 + 10, 1);
      const p1 = await d.browse({ name: 'a', state: 'queued', limit: 2, now: T0 + 10 });
      assert.deepEqual(
        p1.items.map((m) => m.id),
        [ids[4], ids[3]],
      );
      assert.ok(p1.nextCursor);
      const p2 = await d.browse({
        name: 'a',
        state: 'queued',
        limit: 2,
        cursor: p1.nextCursor,
        now: T0 + 10,
      });
      assert.deepEqual(
        p2.items.map((m) => m.id),
        [ids[2], ids[1]],
      );
      assert.equal(p2.nextCursor, null);
      const running = await d.browse({ name: 'a', state: 'running', limit: 10, now: T0 + 10 });
      assert.deepEqual(
        running.items.map((m) => m.id),
        [ids[0]],
      );
    });

    it('browse › dead-lettered and completed messages too, with attempts and history', async () => {
      const dl = await deadLettered(d, 'a', 1);
      await d.addHistory({
        id: dl,
        event: { at: T0 + 2, type: 'rule.matched', data: { rule: 'r', occurrence: 1 } },
      });
      const dead = await d.browse({ name: 'a', state: 'deadlettered', limit: 10, now: T0 + 10 });
      assert.deepEqual(
        dead.items.map((m) => [m.id, m.state, m.deadLetterReason, m.attempts.length]),
        [[dl, 'deadlettered', 'Boom', 1]],
      );
      assert.deepEqual(dead.items[0].history, [
        { at: T0 + 2, type: 'rule.matched', data: { rule: 'r', occurrence: 1 } },
      ]);
      assert.equal(dead.nextCursor, null);
      const done = await d.browse({ name: 'a', state: 'completed', limit: 10, now: T0 + 10 });
      assert.deepEqual(done.items, []);
    });

    it('cancel › dead-letters a scheduled message but not a running one', async () => {
      const sched = await put('a', 1, { visibleAt: T0 + 60_000 });
      await put('b', 2);
      const [run] = await take('b');
      assert.equal(await d.cancel({ id: sched, now: T0 }), true);
      assert.equal(await d.cancel({ id: run.id, now: T0 }), false);
      const m = await d.getMessage({ id: sched, now: T0 });
      assert.equal(m!.state, 'deadlettered');
      assert.equal(m!.deadLetterReason, 'Cancelled');
      assert.equal(m!.history[0].type, 'cancelled');
    });

    it('maintain › deletes completed messages past retention and old idempotency keys', async () => {
      const old = await put('a', 1, { idempotencyKey: 'k' });
      const [m] = await take('a');
      await settleOne(
        d,
        { kind: 'complete', id: old, lockToken: m.lockToken, result: null, attempt: attempt(T0) },
        T0,
      );
      const fresh = await put('a', 2, {}, T0 + 5000);
      const [m2] = await take('a', T0 + 5000);
      await settleOne(
        d,
        { kind: 'complete', id: fresh, lockToken: m2.lockToken, result: null, attempt: attempt(T0) },
        T0 + 5000,
      );
      const r = await d.maintain({
        now: T0 + 7000,
        completedRetentionMs: 3000,
        idempotencyRetentionMs: 3000,
        limit: 100,
      });
      assert.deepEqual(r, { deletedMessages: 1, deletedKeys: 1 });
      assert.equal(await d.getMessage({ id: old, now: T0 + 7000 }), null);
      assert.ok(await d.getMessage({ id: fresh, now: T0 + 7000 }));
    });

    it('maintain › past retention, completions of other tasks go and the counts of whole minutes too', async () => {
      const MIN = 60_000;
      const complete = async (name: string, at: number) => {
        const id = await put(name, 1, {}, at);
        const [m] = await take(name, at);
        await settleOne(
          d,
          { kind: 'complete', id, lockToken: m.lockToken, result: null, attempt: attempt(at) },
          at,
        );
        return id;
      };
      const oldA = await complete('a', T0 - 3 * MIN);
      const oldB = await complete('b', T0 - 3 * MIN + 1);
      const kept = await complete('c', T0 + 1000);
      const now = T0 + 5000;
      const r = await d.maintain({
        now,
        completedRetentionMs: 4000,
        idempotencyRetentionMs: MIN,
        limit: 100,
      });
      assert.equal(r.deletedMessages, 2);
      assert.equal(await d.getMessage({ id: oldA, now }), null);
      assert.equal(await d.getMessage({ id: oldB, now }), null);
      assert.ok(await d.getMessage({ id: kept, now }));
      // The minute T0 - 3 min ended before the cutoff; the minute T0 holds a retained completion.
      assert.deepEqual(await d.activity({ since: T0 - 5 * MIN, now, bucketMs: MIN }), [
        { name: 'c', at: T0, completed: 1, failed: 0, deadlettered: 0 },
      ]);
    });

    it('activity › counts completions, failed attempts and dead letters per task and time bucket', async () => {
      const MIN = 60_000;
      const run = async (name: string, at: number, outcome: 'complete' | 'abandon' | 'deadletter') => {
        const id = await put(name, at, {}, at);
        const [m] = await take(name, at);
        const error = outcome === 'complete' ? null : { name: 'Error', message: 'boom' };
        const a = { startedAt: at, endedAt: at + 5, worker: W, error };
        const s =
          outcome === 'complete'
            ? { kind: 'complete' as const, id, lockToken: m.lockToken, result: null, attempt: a }
            : outcome === 'abandon'
              ? { kind: 'abandon' as const, id, lockToken: m.lockToken, visibleAt: at + 10 * MIN, attempt: a }
              : {
                  kind: 'deadletter' as const,
                  id,
                  lockToken: m.lockToken,
                  reason: 'R',
                  description: 'd',
                  attempt: a,
                };
        await settleOne(d, s, at + 5);
      };
      await run('a', T0 - 2 * MIN, 'complete'); // before the window
      await run('a', T0 + 1_000, 'complete');
      await run('a', T0 + 2_000, 'complete');
      await run('a', T0 + MIN + 1_000, 'abandon');
      await run('b', T0 + 2 * MIN + 500, 'deadletter');
      await run('b', T0 + 9 * MIN, 'complete'); // after now
      // A completion settled in one batch with a failure counts as well.
      const at = T0 + 3 * MIN;
      const [ok, bad] = [await put('b', 1, {}, at), await put('b', 2, {}, at)];
      const [m1, m2] = await take('b', at);
      assert.deepEqual([m1.id, m2.id], [ok, bad]);
      const a = { startedAt: at, endedAt: at + 5, worker: W, error: null };
      await d.settle({
        settlements: [
          { kind: 'complete', id: ok, lockToken: m1.lockToken, result: null, attempt: a },
          {
            kind: 'abandon',
            id: bad,
            lockToken: m2.lockToken,
            visibleAt: at + 10 * MIN,
            attempt: { ...a, error: { name: 'Error', message: 'boom' } },
          },
        ],
        now: at + 5,
      });
      const r = await d.activity({ since: T0, now: T0 + 5 * MIN, bucketMs: MIN });
      assert.deepEqual(r, [
        { name: 'a', at: T0, completed: 2, failed: 0, deadlettered: 0 },
        { name: 'a', at: T0 + MIN, completed: 0, failed: 1, deadlettered: 0 },
        { name: 'b', at: T0 + 2 * MIN, completed: 0, failed: 1, deadlettered: 1 },
        { name: 'b', at: T0 + 3 * MIN, completed: 1, failed: 1, deadlettered: 0 },
      ]);
      assert.deepEqual(await d.activity({ since: T0, now: T0 + 5 * MIN, bucketMs: 5 * MIN }), [
        { name: 'a', at: T0, completed: 2, failed: 1, deadlettered: 0 },
        { name: 'b', at: T0, completed: 1, failed: 2, deadlettered: 1 },
      ]);
      assert.deepEqual(await d.activity({ since: T0 + 20 * MIN, now: T0 + 30 * MIN, bucketMs: MIN }), []);
    });

    it('nextVisibleAt › gives the earliest future visibility', async () => {
      await put('a', 1, { visibleAt: T0 + 900 });
      await put('b', 1, { visibleAt: T0 + 300 });
      await put('a', 1);
      assert.equal(await d.nextVisibleAt({ names: ['a', 'b'], now: T0 }), T0 + 300);
      assert.equal(await d.nextVisibleAt({ names: ['c'], now: T0 }), null);
    });

    it('deadletter events › enqueue a $deadletter message in the same transaction when enabled', async () => {
      const withEvents = await openDriver({ deadLetterEvents: true }, true);
      const [r] = await withEvents.enqueue({ messages: [msg('a', 1)], now: T0 });
      const [m] = await withEvents.receive({
        name: 'a',
        limit: 1,
        lockDurationMs: LOCK,
        workerId: W,
        now: T0,
      });
      await settleOne(
        withEvents,
        {
          kind: 'deadletter',
          id: r.id,
          lockToken: m.lockToken,
          reason: 'Bad',
          description: 'bad',
          attempt: attempt(T0),
        },
        T0,
      );
      const [ev] = await withEvents.receive({
        name: DEADLETTER_EVENT_TASK,
        limit: 5,
        lockDurationMs: LOCK,
        workerId: W,
        now: T0,
      });
      assert.deepEqual(JSON.parse((ev.body as { json: string }).json), {
        id: r.id,
        name: 'a',
        reason: 'Bad',
      });
      const none = await d.receive({
        name: DEADLETTER_EVENT_TASK,
        limit: 5,
        lockDurationMs: LOCK,
        workerId: W,
        now: T0,
      });
      assert.equal(none.length, 0, 'off by default');
    });

    it('settings and keys › initSetting keeps the first value; keys are found by hash until revoked', async () => {
      assert.equal(await d.initSetting({ key: 'k', value: 'one' }), 'one');
      assert.equal(await d.initSetting({ key: 'k', value: 'two' }), 'one');
      assert.equal(await d.getSetting({ key: 'missing' }), null);
      const key = {
        id: 'key1',
        label: 'ci',
        scope: 'function' as const,
        task: 'a',
        hash: 'ab'.repeat(32),
        createdAt: T0,
        revokedAt: null,
      };
      await d.createKey({ key });
      assert.deepEqual(await d.findKeyByHash({ hash: key.hash }), key);
      assert.equal((await d.listKeys()).length, 1);
      assert.equal(await d.revokeKey({ id: 'key1', now: T0 + 1 }), true);
      assert.equal(await d.findKeyByHash({ hash: key.hash }), null);
      assert.equal((await d.listKeys())[0].revokedAt, T0 + 1);
    });

    it('hitRateLimit › counts hits per counter in fixed windows aligned to multiples of windowMs', async () => {
      const hit = (key: string, now: number, cost?: number) =>
        d.hitRateLimit({ key, windowMs: 1000, now, cost });
      assert.deepEqual(await hit('k', T0 + 10), { count: 1, resetAt: T0 + 1000 });
      assert.deepEqual(await hit('k', T0 + 999), { count: 2, resetAt: T0 + 1000 });
      assert.deepEqual(await hit('other', T0 + 20), { count: 1, resetAt: T0 + 1000 });
      assert.deepEqual(await hit('k', T0 + 500, 5), { count: 7, resetAt: T0 + 1000 });
      // The next window restarts the count; so does any later one.
      assert.deepEqual(await hit('k', T0 + 1000), { count: 1, resetAt: T0 + 2000 });
      assert.deepEqual(await hit('k', T0 + 5300), { count: 1, resetAt: T0 + 6000 });
      // A hit stamped with an earlier window (a process whose clock is behind) counts in the
      // current one instead of restarting it.
      assert.deepEqual(await hit('k', T0 + 4999), { count: 2, resetAt: T0 + 6000 });
      assert.deepEqual(await hit('other', T0 + 5400), { count: 1, resetAt: T0 + 6000 });
    });

    it('hitRateLimit › counts every hit once when connections hit one counter at the same time', async () => {
      const other = suite.sharesDatabase === false ? d : await openDriver();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? other : d).hitRateLimit({ key: 'shared', windowMs: 60_000, now: T0 + i }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.count).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      assert.equal((await d.hitRateLimit({ key: 'shared', windowMs: 60_000, now: T0 + 100 })).count, 41);
    });

    async function deadLettered(dr: StorageDriver, name: string, body: unknown): Promise<string> {
      const [r] = await dr.enqueue({ messages: [msg(name, body)], now: T0 });
      const got = await dr.receive({ name, limit: 100, lockDurationMs: LOCK, workerId: W, now: T0 });
      const m = got.find((x: ReceivedMessage) => x.id === r.id)!;
      await settleOne(
        dr,
        {
          kind: 'deadletter',
          id: r.id,
          lockToken: m.lockToken,
          reason: 'Boom',
          description: 'it broke',
          attempt: attempt(T0),
        },
        T0 + 1,
      );
      for (const other of got) {
        if (other.id !== r.id) {
          await settleOne(
            dr,
            {
              kind: 'abandon',
              id: other.id,
              lockToken: other.lockToken,
              visibleAt: T0,
              attempt: attempt(T0),
            },
            T0 + 1,
          );
        }
      }
      return r.id;
    }
  });
}

/** The rescuer's logic, as the worker runs it: core decides, the driver applies. */
async function rescueAll(d: StorageDriver, now: number, maxDeliveryCount: number): Promise<string[]> {
  const expired = await d.findExpiredLocks({ now, limit: 100 });
  return d.rescue({
    now,
    items: expired.map((e) => {
      const o = decideFailure({
        deliveryCount: e.deliveryCount,
        maxDeliveryCount,
        backoff: { type: 'none' },
        error: LOCK_EXPIRED_ERROR,
        now,
        random: () => 0,
      });
      const a = {
        startedAt: e.lockedAt,
        endedAt: e.lockedUntil,
        worker: e.lockedBy,
        error: LOCK_EXPIRED_ERROR,
      };
      return o.kind === 'retry'
        ? { id: e.id, lockToken: e.lockToken, outcome: 'retry' as const, visibleAt: o.visibleAt, attempt: a }
        : {
            id: e.id,
            lockToken: e.lockToken,
            outcome: 'deadletter' as const,
            reason: o.reason,
            description: o.description,
            attempt: a,
          };
    }),
  });
}
