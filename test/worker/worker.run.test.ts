import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { ManualClock } from '../../src/clock.ts';
import { TaskbusError } from '../../src/errors.ts';
import { openDriver } from '../../src/storage/open.ts';
import { createTaskbus, type Taskbus, type TaskbusOptions } from '../../src/taskbus.ts';
import type { TaskExport } from '../../src/tasks/define.ts';
import { settle, waitFor } from '../support/wait.ts';

const open: Taskbus[] = [];
async function bus(tasks: Record<string, TaskExport>, o: Partial<TaskbusOptions> = {}) {
  const tb = await createTaskbus({ tasks, db: ':memory:', logger: pino({ level: 'silent' }), ...o });
  open.push(tb);
  return tb;
}
afterEach(async () => {
  for (const tb of open.splice(0)) await tb.close(100);
});

const done = (tb: Taskbus, id: string, state = 'completed') =>
  waitFor(async () => {
    const m = await tb.getTask(id);
    return m?.state === state ? m : null;
  }, `${id} ${state}`);

describe('worker', () => {
  it('complete › stores the handler result and one successful attempt', async () => {
    const tb = await bus({ add: async (b: { a: number; b: number }) => ({ sum: b.a + b.b }) });
    await tb.startWorkers();
    const { id } = await tb.enqueue('add', { a: 2, b: 3 });
    const m = await done(tb, id);
    assert.deepEqual(m.result, { sum: 5 });
    assert.equal(m.attempts.length, 1);
    assert.equal(m.attempts[0].error, null);
  });

  it('retry › a throwing handler is dead-lettered after maxDeliveryCount with every error and stack', async () => {
    let calls = 0;
    const tb = await bus({
      flaky: {
        handler: async () => {
          calls++;
          throw new TypeError(`failure ${calls}`);
        },
        maxDeliveryCount: 3,
        backoff: { type: 'none' },
      },
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('flaky', {});
    const m = await done(tb, id, 'deadlettered');
    assert.equal(calls, 3);
    assert.equal(m.deadLetterReason, 'MaxDeliveryCountExceeded');
    assert.equal(m.deadLetterErrorDescription, 'TypeError: failure 3');
    assert.deepEqual(
      m.attempts.map((a) => [a.number, a.error?.name, a.error?.message]),
      [
        [1, 'TypeError', 'failure 1'],
        [2, 'TypeError', 'failure 2'],
        [3, 'TypeError', 'failure 3'],
      ],
    );
    assert.match(m.attempts[0].error!.stack!, /TypeError: failure 1\n\s+at /);
  });

  it('complete › a handler that is not async completes with the value it returns', async () => {
    const tb = await bus({ plain: (b: { n: number }) => ({ double: b.n * 2 }) });
    await tb.startWorkers();
    const { id } = await tb.enqueue('plain', { n: 21 });
    const m = await done(tb, id);
    assert.deepEqual(m.result, { double: 42 });
  });

  it('retry › a handler that throws before returning, or rejects with undefined, fails its attempt', async () => {
    const tb = await bus({
      sync: {
        handler: () => {
          throw new RangeError('at once');
        },
        maxDeliveryCount: 1,
      },
      nothing: { handler: () => Promise.reject(undefined), maxDeliveryCount: 1 },
    });
    await tb.startWorkers();
    const a = await tb.enqueue('sync', {});
    const b = await tb.enqueue('nothing', {});
    const ma = await done(tb, a.id, 'deadlettered');
    assert.deepEqual([ma.attempts[0].error?.name, ma.attempts[0].error?.message], ['RangeError', 'at once']);
    const mb = await done(tb, b.id, 'deadlettered');
    assert.equal(mb.attempts.length, 1);
    assert.equal(mb.attempts[0].error?.message, 'undefined');
  });

  it('settled event › a listener that throws is logged; the worker goes on settling', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
    const tb = await bus({ ok: async () => 'fine' }, { logger });
    tb.on('settled', () => {
      throw new Error('listener bug');
    });
    await tb.startWorkers();
    const first = await tb.enqueue('ok', {});
    const second = await tb.enqueue('ok', {});
    await done(tb, first.id);
    await done(tb, second.id);
    await waitFor(() => lines.filter((l) => l.includes('listener bug')).length >= 2, 'both logged');
  });

  it('retry › waits out the configured backoff on the injected clock', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const tb = await bus(
      {
        slow: {
          handler: async () => {
            calls++;
            if (calls < 3) throw new Error('not yet');
            return 'ok';
          },
          backoff: { type: 'exponential', delayMs: 1000, jitter: false },
        },
      },
      { clock },
    );
    const worker = await tb.startWorkers();
    const { id } = await tb.enqueue('slow', null);
    await waitFor(() => calls === 1, 'first delivery');
    await waitFor(async () => (await tb.getTask(id))?.attempts.length === 1, 'first attempt recorded');
    const m1 = await tb.getTask(id);
    assert.equal(m1!.state, 'scheduled');
    assert.equal(m1!.visibleAt, clock.now() + 1000, 'exponential: delayMs × 2^0');
    clock.advance(999);
    worker.wake();
    await settle();
    assert.equal(calls, 1, 'not redelivered before the backoff elapsed');
    clock.advance(1);
    worker.wake();
    await waitFor(() => calls === 2, 'second delivery');
    await waitFor(async () => (await tb.getTask(id))?.attempts.length === 2, 'second attempt recorded');
    assert.equal((await tb.getTask(id))!.visibleAt, clock.now() + 2000, 'exponential: delayMs × 2^1');
    clock.advance(2000);
    worker.wake();
    const m = await done(tb, id);
    assert.equal(m.result, 'ok');
  });

  it('timeout › aborts ctx.signal and fails the attempt with TimeoutError', async () => {
    let reason: unknown;
    const tb = await bus({
      hang: {
        handler: (_b, ctx) =>
          new Promise((_r, reject) => {
            ctx.signal.addEventListener('abort', () => {
              reason = ctx.signal.reason;
              reject(ctx.signal.reason);
            });
          }),
        timeoutMs: 30,
        maxDeliveryCount: 1,
      },
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('hang', null);
    const m = await done(tb, id, 'deadlettered');
    assert.equal((reason as Error).name, 'TimeoutError');
    assert.equal(m.attempts[0].error!.name, 'TimeoutError');
  });

  it('ctx.deadLetter › dead-letters at once with the given reason, no retries', async () => {
    let calls = 0;
    const tb = await bus({
      reject: (_b, ctx) => {
        calls++;
        ctx.deadLetter('InvalidInvoice', 'customer id is missing');
      },
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('reject', {});
    const m = await done(tb, id, 'deadlettered');
    assert.equal(calls, 1);
    assert.equal(m.deadLetterReason, 'InvalidInvoice');
    assert.equal(m.deadLetterErrorDescription, 'customer id is missing');
  });

  it('ctx.enqueue and ctx.progress › a follow-up task runs and progress is stored', async () => {
    const tb = await bus({
      parent: async (_b, ctx) => {
        await ctx.progress({ step: 1 });
        const child = await ctx.enqueue('child', { from: ctx.id });
        return { child: child.id };
      },
      child: async (b: { from: string }) => ({ parent: b.from }),
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('parent', null);
    const p = await done(tb, id);
    assert.deepEqual(p.progress, { step: 1 });
    const c = await done(tb, (p.result as { child: string }).child);
    assert.deepEqual(c.result, { parent: id });
  });

  it('ctx › every member works when destructured, as a handler written `(body, { … })` reads it', async () => {
    const tb = await bus({
      parent: async (_b, { id, name, deliveryCount, enqueuedAt, signal, log, progress, enqueue }) => {
        log.info('started');
        await progress({ step: 2 });
        const child = await enqueue('child', null);
        return {
          id,
          name,
          deliveryCount,
          at: enqueuedAt.getTime(),
          aborted: signal.aborted,
          child: child.id,
        };
      },
      child: async () => null,
      refuse: async (_b, { deadLetter }) => deadLetter('Refused', 'destructured'),
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('parent', null);
    const p = await done(tb, id);
    const r = p.result as Record<string, unknown>;
    assert.deepEqual(
      { id: r.id, name: r.name, deliveryCount: r.deliveryCount, at: r.at, aborted: r.aborted },
      { id, name: 'parent', deliveryCount: 1, at: p.enqueuedAt, aborted: false },
    );
    assert.deepEqual(p.progress, { step: 2 });
    await done(tb, r.child as string);
    const refused = await tb.enqueue('refuse', null);
    const d = await done(tb, refused.id, 'deadlettered');
    assert.equal(d.deadLetterReason, 'Refused');
    assert.equal(d.deadLetterErrorDescription, 'destructured');
  });

  it('concurrency › never runs more handlers of a task at once than its setting', async () => {
    let running = 0;
    let peak = 0;
    const tb = await bus({
      busy: {
        handler: async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        },
        concurrency: 3,
      },
    });
    await tb.startWorkers();
    const ids = await tb.enqueueMany(
      'busy',
      Array.from({ length: 20 }, (_, i) => i),
    );
    for (const r of ids) await done(tb, r.id);
    assert.equal(peak, 3);
  });

  it('prefetch › holds at most concurrency + prefetchCount messages once handlers have a duration; stopping releases the unstarted ones', async () => {
    const gate: (() => void)[] = [];
    let started = 0;
    const tb = await bus({
      gated: {
        handler: (b: { warm?: boolean }) => {
          started++;
          return b.warm ? Promise.resolve() : new Promise<void>((r) => gate.push(r));
        },
        concurrency: 1,
        prefetchCount: 2,
      },
    });
    const counts = async () => (await tb.counts(['gated']))[0];
    await tb.enqueue('gated', { warm: true });
    await tb.enqueue('gated', {});
    await tb.startWorkers();
    await waitFor(() => started === 2, 'the warm-up and one gated handler');
    await settle();
    const first = await counts();
    assert.deepEqual([first.completed, first.running], [1, 1]);
    const ids = (await tb.enqueueMany('gated', [{}, {}, {}, {}])).map((r) => r.id);
    await waitFor(async () => (await counts()).running === 3, 'two prefetched');
    await settle();
    const c = await counts();
    assert.deepEqual([c.running, c.queued], [3, 2], 'one running, two prefetched and locked, two waiting');
    const stopping = tb.stopWorkers(5000);
    await settle();
    for (const r of gate.splice(0)) r();
    await stopping;
    assert.equal(started, 2, 'prefetched messages do not start once stopping');
    const after = await counts();
    assert.deepEqual([after.completed, after.queued, after.running], [2, 4, 0], 'nothing lost');
    await tb.startWorkers();
    await waitFor(async () => {
      for (const r of gate.splice(0)) r();
      return (await counts()).completed === 6;
    }, 'all six to complete');
    assert.equal(ids.length, 4);
  });

  it('prefetch › holds only what its handlers start within 100 ms at their average duration', async () => {
    const clock = new ManualClock();
    const gate: (() => void)[] = [];
    const tb = await bus(
      { paced: { handler: () => new Promise<void>((r) => gate.push(r)), concurrency: 1, prefetchCount: 10 } },
      { clock },
    );
    const counts = async () => (await tb.counts(['paced']))[0];
    await tb.enqueue('paced', 1);
    await tb.startWorkers();
    await waitFor(() => gate.length === 1, 'the first handler');
    await tb.enqueueMany('paced', [2, 3, 4, 5, 6, 7]);
    clock.advance(40); // a handler of 40 ms: two more start within 100 ms
    gate.shift()!();
    await waitFor(async () => gate.length === 1 && (await counts()).running === 3, 'two prefetched');
    await settle();
    const c = await counts();
    assert.deepEqual(
      [c.completed, c.running, c.queued],
      [1, 3, 3],
      'one running, two prefetched, the rest left for other workers',
    );
    await waitFor(async () => {
      for (const r of gate.splice(0)) r();
      return (await counts()).completed === 7;
    }, 'all seven to complete');
  });

  it('prefetch › holds nothing ahead when handlers take long against the lock', async () => {
    const clock = new ManualClock();
    const gate: (() => void)[] = [];
    const tb = await bus(
      { slow: { handler: () => new Promise<void>((r) => gate.push(r)), concurrency: 1, prefetchCount: 5 } },
      { clock },
    );
    await tb.enqueueMany('slow', [1, 2, 3, 4]);
    await tb.startWorkers();
    await waitFor(() => gate.length === 1, 'the first handler');
    clock.advance(30_000); // half the default 60 s lock: nothing may wait a quarter lock in a buffer
    gate.shift()!();
    await waitFor(() => gate.length === 1, 'the second handler');
    await settle();
    const c = (await tb.counts(['slow']))[0];
    assert.deepEqual([c.completed, c.running, c.queued], [1, 1, 2], 'no message locked ahead of a free slot');
    for (const r of gate.splice(0)) r();
  });

  it('lock renewal › a handler running past lockDurationMs keeps its lock', async () => {
    const clock = new ManualClock();
    let finish!: () => void;
    const tb = await bus(
      {
        long: {
          handler: () => new Promise<string>((r) => (finish = () => r('done'))),
          lockDurationMs: 80,
        },
      },
      { clock },
    );
    const worker = await tb.startWorkers();
    const { id } = await tb.enqueue('long', null);
    await waitFor(() => finish, 'the handler to start');
    // Five lock durations pass in 10 ms steps; renewals run at every half lock.
    for (let i = 0; i < 40; i++) {
      clock.advance(10);
      await settle(5);
    }
    assert.deepEqual((await worker.rescuePass()).rescued, [], 'the renewed lock has not expired');
    assert.equal((await tb.getTask(id))!.state, 'running');
    finish();
    const m = await done(tb, id);
    assert.equal(m.deliveryCount, 1);
    assert.equal(m.attempts.length, 1);
  });

  it('concurrency › a message redelivered here while its expired attempt still runs counts as a second handler', async () => {
    const clock = new ManualClock();
    // Renewals fail as if the database were unreachable: the first attempt runs on past its lock.
    const real = await openDriver(':memory:', { clock });
    const driver = new Proxy(real, {
      get(target, key) {
        if (key === 'renewLock') {
          return async () => {
            throw new TaskbusError('STORAGE_UNAVAILABLE', 'renewals are down');
          };
        }
        const v = Reflect.get(target, key);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const gate: (() => void)[] = [];
    let active = 0;
    let most = 0;
    const tb = await bus(
      {
        held: {
          handler: async () => {
            most = Math.max(most, ++active);
            await new Promise<void>((r) => gate.push(r));
            active--;
          },
          concurrency: 2,
          prefetchCount: 0,
          lockDurationMs: 1000,
          maxDeliveryCount: 5,
          backoff: { type: 'none' },
        },
      },
      { clock, driver },
    );
    const first = await tb.enqueue('held', 'a');
    await tb.startWorkers();
    await waitFor(() => gate.length === 1, 'the first attempt');
    clock.advance(2000); // the lock expires; the rescuer makes the message visible again
    await waitFor(() => gate.length === 2, 'the second attempt of the same message');
    await tb.enqueue('held', 'b');
    clock.advance(300); // a poll: both slots are taken, so b must wait
    await settle();
    assert.equal(gate.length, 2);
    assert.equal((await tb.getTask(first.id))?.deliveryCount, 2);
    gate.shift()!(); // the expired attempt ends; its settle finds the lock lost
    await waitFor(() => gate.length === 2, 'b starts in the slot the expired attempt left');
    for (const r of gate.splice(0)) r();
    await waitFor(() => gate.length === 0 && active === 0, 'all done');
    assert.equal(most, 2);
  });

  it('shutdown › lets running handlers finish within the grace period', async () => {
    const tb = await bus({ quick: async () => new Promise((r) => setTimeout(() => r('finished'), 30)) });
    await tb.startWorkers();
    const { id } = await tb.enqueue('quick', null);
    await waitFor(async () => (await tb.getTask(id))?.state === 'running', 'running');
    await tb.stopWorkers(5000);
    const m = await tb.getTask(id);
    assert.equal(m!.state, 'completed');
    assert.equal(m!.result, 'finished');
  });

  it('shutdown › abandons handlers still running after the grace period, and nothing is lost', async () => {
    let first = true;
    const tb = await bus({
      stuck: async (_b, ctx) => {
        if (!first) return 'second run';
        first = false;
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
        throw ctx.signal.reason;
      },
    });
    await tb.startWorkers();
    const { id } = await tb.enqueue('stuck', null);
    await waitFor(async () => (await tb.getTask(id))?.state === 'running', 'running');
    await tb.stopWorkers(20);
    const m = await tb.getTask(id);
    assert.equal(m!.state, 'queued', 'visible again at once');
    assert.equal(m!.attempts[0].error!.name, 'ShutdownError');
    await tb.startWorkers();
    const again = await done(tb, id);
    assert.equal(again.result, 'second run');
  });

  it('ttl › a message not started within ttlMs is dead-lettered as TTLExpiredException', async () => {
    const clock = new ManualClock();
    const tb = await bus({ later: { handler: async () => 'ran', ttlMs: 500 } }, { clock });
    const { id } = await tb.enqueue('later', null, { delayMs: 1000 });
    const worker = await tb.startWorkers();
    clock.advance(1000);
    await worker.rescuePass();
    const m = await tb.getTask(id);
    assert.equal(m!.state, 'deadlettered');
    assert.equal(m!.deadLetterReason, 'TTLExpiredException');
  });
});
