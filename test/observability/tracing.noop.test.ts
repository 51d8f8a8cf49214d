/**
 * Tracing without an OpenTelemetry SDK: nothing is recorded, and the W3C traceparent of the
 * request is stored with the message as it came, for a handler (or a later SDK) to continue.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { contextFromTraceparent, traceIdOf, traceparentOf } from '../../src/observability/tracing.ts';
import { MASTER, type TestApp, testApp } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing › without an SDK (the default)', () => {
  let t: TestApp;
  let activeInHandler: unknown = 'unset';
  before(async () => {
    t = await testApp({
      job: async () => {
        activeInHandler = trace.getActiveSpan()?.isRecording() ?? null;
        return 1;
      },
    });
  });
  after(() => t.close());

  const post = (headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/api/job', headers: { 'x-functions-key': MASTER, ...headers } });

  it('stores the request traceparent unchanged, and null without one', async () => {
    const a = (await post({ traceparent: TP })).json().id;
    const b = (await post()).json().id;
    const c = (await post({ traceparent: 'not-a-traceparent' })).json().id;
    assert.equal((await t.tb.getTask(a))?.traceparent, TP);
    assert.equal((await t.tb.getTask(b))?.traceparent, null);
    assert.equal((await t.tb.getTask(c))?.traceparent, null);
  });

  it('runs handlers with no recording span', async () => {
    await t.tb.startWorkers();
    const id = (await post({ traceparent: TP })).json().id;
    await waitFor(async () => (await t.tb.getTask(id))?.state === 'completed', 'completed');
    assert.notEqual(activeInHandler, true);
  });

  it('traceparent helpers › parse, format and reject invalid ids', () => {
    const ctx = contextFromTraceparent(TP);
    assert.ok(ctx);
    const span = trace.getSpan(ctx)!;
    assert.equal(traceparentOf(span), TP);
    assert.equal(traceIdOf(TP), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(contextFromTraceparent(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`), null);
    assert.equal(contextFromTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null);
    assert.equal(contextFromTraceparent(null), null);
  });
});
