import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryDelayMs } from '../../src/core/backoff.ts';
import { decideFailure } from '../../src/core/decide.ts';
import { resolveSettings } from '../../src/core/settings.ts';

const err = { name: 'Error', message: 'boom' };

describe('core policy', () => {
  it('retryDelayMs › exponential doubles from delayMs and stops at maxDelayMs', () => {
    const b = { type: 'exponential' as const, delayMs: 1000, maxDelayMs: 5000, jitter: false };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 2000].map((n) => retryDelayMs(b, n, Math.random)),
      [1000, 2000, 4000, 5000, 5000, 5000],
    );
  });

  it('retryDelayMs › jitter is uniform in [delay/2, delay]', () => {
    const b = { type: 'exponential' as const, delayMs: 1000, jitter: true };
    assert.equal(
      retryDelayMs(b, 2, () => 0),
      1000,
    );
    assert.equal(
      retryDelayMs(b, 2, () => 0.999999),
      2000,
    );
  });

  it('retryDelayMs › fixed and none', () => {
    assert.equal(retryDelayMs({ type: 'fixed', delayMs: 250, jitter: false }, 7, Math.random), 250);
    assert.equal(retryDelayMs({ type: 'none' }, 7, Math.random), 0);
  });

  it('decideFailure › retries before maxDeliveryCount and dead-letters at it', () => {
    const base = {
      maxDeliveryCount: 3,
      backoff: { type: 'none' as const },
      error: err,
      now: 100,
      random: () => 0,
    };
    assert.deepEqual(decideFailure({ ...base, deliveryCount: 2 }), { kind: 'retry', visibleAt: 100 });
    assert.deepEqual(decideFailure({ ...base, deliveryCount: 3 }), {
      kind: 'deadletter',
      reason: 'MaxDeliveryCountExceeded',
      description: 'Error: boom',
    });
  });

  it('decideFailure › ctx.deadLetter wins over retries left', () => {
    const o = decideFailure({
      deliveryCount: 1,
      maxDeliveryCount: 10,
      backoff: { type: 'none' },
      error: err,
      now: 0,
      random: () => 0,
      deadLetter: { reason: 'Bad', description: 'bad input' },
    });
    assert.deepEqual(o, { kind: 'deadletter', reason: 'Bad', description: 'bad input' });
  });

  it('resolveSettings › fills SPEC defaults and rejects bad values by name', () => {
    const s = resolveSettings({});
    assert.equal(s.maxDeliveryCount, 10);
    assert.equal(s.lockDurationMs, 60_000);
    assert.equal(s.timeoutMs, 300_000);
    assert.equal(s.concurrency, 16);
    assert.deepEqual(s.backoff, { type: 'exponential', delayMs: 1000, maxDelayMs: 300_000, jitter: true });
    assert.throws(() => resolveSettings({ concurrency: 1.5 }), /concurrency must be an integer/);
    assert.throws(() => resolveSettings({ auth: 'public' }), /auth must be/);
    assert.throws(() => resolveSettings({ schema: 'x' }), /schema must be a JSON Schema object/);
  });
});
