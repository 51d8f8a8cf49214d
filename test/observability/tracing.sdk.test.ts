/**
 * Tracing with an OpenTelemetry SDK installed (in-memory exporter): one trace spans the HTTP
 * request's traceparent → enqueue → handler → follow-up task, and dead-letter actions.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import {
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { withMessageTrace } from '../../src/observability/tracing.ts';
import { MASTER, type TestApp, testApp } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';

/** The context manager an SDK installs (AsyncLocalStorage), so spans follow `await`. */
class AlsContextManager implements ContextManager {
  private als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

const exporter = new InMemorySpanExporter();
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const REQUEST_SPAN = '00f067aa0ba902b7';

describe('tracing › with an OpenTelemetry SDK', () => {
  let t: TestApp;
  let seenInHandler: { traceId: string; spanId: string } | null = null;

  before(async () => {
    context.setGlobalContextManager(new AlsContextManager());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    t = await testApp({
      parent: async (_b, ctx) => {
        await new Promise((r) => setImmediate(r)); // the span survives an await
        const sc = trace.getActiveSpan()?.spanContext();
        seenInHandler = sc ? { traceId: sc.traceId, spanId: sc.spanId } : null;
        const { id } = await ctx.enqueue('child', { from: ctx.id });
        return { child: id };
      },
      child: async () => 'done',
      doomed: async (_b, ctx) => ctx.deadLetter('InvalidInput', 'the order has no lines'),
    });
    await t.tb.startWorkers();
  });
  after(async () => {
    await t.close();
    trace.disable();
    context.disable();
  });

  const post = (name: string, traceparent?: string) =>
    t.app.inject({
      method: 'POST',
      url: `/api/${name}`,
      headers: {
        'x-functions-key': MASTER,
        'content-type': 'application/json',
        ...(traceparent ? { traceparent } : {}),
      },
      payload: '{}',
    });
  const spans = () => exporter.getFinishedSpans();
  const one = (name: string, pred: (s: ReadableSpan) => boolean = () => true) => {
    const found = spans().filter((s) => s.name === name && pred(s));
    assert.equal(found.length, 1, `${name}: ${found.length} spans`);
    return found[0];
  };
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

  it('request → queue → handler → follow-up task is one trace', async () => {
    const r = await post('parent', `00-${TRACE}-${REQUEST_SPAN}-01`);
    assert.equal(r.statusCode, 202);
    const id = r.json().id;
    const m = await waitFor(async () => {
      const x = await t.tb.getTask(id);
      return x?.state === 'completed' ? x : null;
    }, 'parent completed');
    const childId = (m.result as { child: string }).child;
    await waitFor(async () => (await t.tb.getTask(childId))?.state === 'completed', 'child completed');
    await waitFor(() => spans().some((s) => s.name === 'process child'), 'child span ended');

    const send = one('send parent');
    assert.equal(send.kind, SpanKind.PRODUCER);
    assert.equal(send.spanContext().traceId, TRACE);
    assert.equal(parentOf(send), REQUEST_SPAN);
    assert.equal(send.attributes['messaging.message.id'], id);
    // The message stores the enqueue span's context, so the handler continues from it.
    assert.equal(m.traceparent, `00-${TRACE}-${send.spanContext().spanId}-01`);

    const process = one('process parent');
    assert.equal(process.kind, SpanKind.CONSUMER);
    assert.equal(process.spanContext().traceId, TRACE);
    assert.equal(parentOf(process), send.spanContext().spanId);
    assert.equal(process.attributes['messaging.message.id'], id);
    assert.equal(process.attributes['messaging.message.delivery_count'], 1);
    assert.equal(process.attributes['taskbus.settlement'], 'complete');
    assert.deepEqual(seenInHandler, { traceId: TRACE, spanId: process.spanContext().spanId });

    const sendChild = one('send child');
    assert.equal(parentOf(sendChild), process.spanContext().spanId);
    const processChild = one('process child');
    assert.equal(parentOf(processChild), sendChild.spanContext().spanId);
    assert.equal(processChild.spanContext().traceId, TRACE);
  });

  it('a dead-lettered delivery ends its span with an error and a dead-lettered event', async () => {
    const r = await post('doomed', `00-${TRACE}-${REQUEST_SPAN}-01`);
    const id = r.json().id;
    const m = await waitFor(async () => {
      const x = await t.tb.getTask(id);
      return x?.state === 'deadlettered' ? x : null;
    }, 'doomed dead-lettered');
    await waitFor(() => spans().some((s) => s.name === 'process doomed'), 'span ended');
    const s = one('process doomed');
    assert.equal(s.spanContext().traceId, TRACE);
    assert.equal(s.status.code, 2 /* ERROR */);
    assert.equal(s.attributes['taskbus.settlement'], 'deadletter');
    const event = s.events.find((e) => e.name === 'dead-lettered');
    assert.equal(event?.attributes?.['taskbus.dead_letter.reason'], 'InvalidInput');
    assert.ok(s.events.some((e) => e.name === 'exception'));

    // A dead-letter action (rule: remedy task, webhook…) runs in the message's trace.
    await withMessageTrace('deadletter remedy', m, async () => {
      await t.tb.enqueue('child', { remedy: id });
    });
    const action = one('deadletter remedy');
    assert.equal(action.spanContext().traceId, TRACE);
    assert.equal(parentOf(action), one('send doomed').spanContext().spanId);
    const remedySend = one('send child', (x) => parentOf(x) === action.spanContext().spanId);
    assert.equal(remedySend.spanContext().traceId, TRACE);
  });

  it('without an incoming traceparent a new trace starts at the enqueue', async () => {
    exporter.reset();
    const r = await post('child');
    const id = r.json().id;
    await waitFor(async () => (await t.tb.getTask(id))?.state === 'completed', 'completed');
    await waitFor(() => spans().some((s) => s.name === 'process child'), 'span ended');
    const send = one('send child');
    assert.equal(parentOf(send), undefined);
    assert.notEqual(send.spanContext().traceId, TRACE);
    assert.equal(parentOf(one('process child')), send.spanContext().spanId);
  });
});
