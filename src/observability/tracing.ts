/**
 * Tracing through the OpenTelemetry API: a no-op unless the application installs an SDK (a
 * tracer provider, and a context manager for spans to follow `await`). One trace then spans
 * HTTP request → enqueue (PRODUCER span) → message (its stored `traceparent`) → handler
 * (CONSUMER span) → follow-up tasks and dead-letter actions.
 *
 * Without an SDK every span here is the API's non-recording span: one small object per call,
 * no attributes built (they are set only when `isRecording()`), no ids generated.
 */
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

const tracer = trace.getTracer('taskbus');
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const PRODUCER: SpanOptions = { kind: SpanKind.PRODUCER };
const CONSUMER: SpanOptions = { kind: SpanKind.CONSUMER };
const INTERNAL: SpanOptions = { kind: SpanKind.INTERNAL };

/** A context whose parent span is the remote one a W3C `traceparent` names, or null if invalid. */
export function contextFromTraceparent(traceparent: string | null | undefined, base = ROOT_CONTEXT) {
  const m = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!m || m[1] === 'ff') return null;
  const sc = { traceId: m[2], spanId: m[3], traceFlags: Number.parseInt(m[4], 16) & 0xff, isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(base, sc) : null;
}

/** The W3C `traceparent` of a span, or null when it has no valid context. */
export function traceparentOf(span: Span): string | null {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The `traceparent` of the active span (to pass on, e.g. as a webhook header), or null. */
export function currentTraceparent(): string | null {
  const span = trace.getSpan(context.active());
  return span ? traceparentOf(span) : null;
}

/** The trace id a stored `traceparent` carries (for log lines), or undefined. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  return m ? m[2] : undefined;
}

/**
 * Starts the PRODUCER span of an enqueue. Its parent is the active span (an instrumented HTTP
 * server span, or the handler that enqueues a follow-up task); without one, the `traceparent`
 * the caller received. The returned `traceparent` is what the message stores, so the handler
 * continues this trace; null when there is no trace at all.
 */
export function startEnqueueSpan(
  name: string,
  count: number,
  traceparent: string | undefined,
): { span: Span; traceparent: string | null } {
  const active = context.active();
  const parent =
    traceparent !== undefined && !trace.getSpan(active)
      ? (contextFromTraceparent(traceparent, active) ?? active)
      : active;
  const span = tracer.startSpan(`send ${name}`, PRODUCER, parent);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'taskbus',
      'messaging.operation.type': 'send',
      'messaging.destination.name': name,
      'messaging.batch.message_count': count,
    });
  }
  return { span, traceparent: traceparentOf(span) };
}

/** Ends an enqueue span: the messages stored, or the error. */
export function endEnqueueSpan(span: Span, stored: { id: string }[] | null, err?: unknown): void {
  if (span.isRecording()) {
    if (stored?.length === 1) span.setAttribute('messaging.message.id', stored[0].id);
    if (err !== undefined) failSpan(span, err);
  }
  span.end();
}

/**
 * Starts the CONSUMER span of one delivery, continued from the message's stored `traceparent`,
 * and the context to run the handler in (so its own spans, logs correlation and follow-up
 * enqueues join the trace).
 */
export function startProcessSpan(m: {
  id: string;
  name: string;
  deliveryCount: number;
  traceparent: string | null;
}): { span: Span; context: Context } {
  const parent = contextFromTraceparent(m.traceparent) ?? ROOT_CONTEXT;
  const span = tracer.startSpan(`process ${m.name}`, CONSUMER, parent);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'taskbus',
      'messaging.operation.type': 'process',
      'messaging.destination.name': m.name,
      'messaging.message.id': m.id,
      'messaging.message.delivery_count': m.deliveryCount,
    });
  }
  // A span without a valid context (no SDK and no stored traceparent) has nothing to pass on:
  // the handler runs in the parent context, and no context is built per delivery.
  // (The API's no-op span without a parent holds INVALID_SPAN_CONTEXT itself: no hex to test.)
  const sc = span.spanContext();
  const context =
    sc !== INVALID_SPAN_CONTEXT && isSpanContextValid(sc) ? trace.setSpan(parent, span) : parent;
  return { span, context };
}

/**
 * Ends a delivery's span with how it was settled: completed (status unset, as OpenTelemetry
 * advises for success), retried or dead-lettered (status ERROR with the exception recorded).
 */
export function endProcessSpan(
  span: Span,
  outcome: { kind: 'complete' | 'abandon' | 'deadletter'; reason?: string; error?: unknown },
): void {
  if (span.isRecording()) {
    span.setAttribute('taskbus.settlement', outcome.kind);
    if (outcome.kind === 'deadletter') {
      span.addEvent('dead-lettered', { 'taskbus.dead_letter.reason': outcome.reason ?? '' });
    }
    if (outcome.error !== undefined) failSpan(span, outcome.error);
  }
  span.end();
}

/**
 * Runs `fn` in an INTERNAL span continued from a message's stored `traceparent`: for work done
 * about a message outside its handler (dead-letter rule actions: remedy task, webhook, email),
 * so it joins the message's trace. Enqueues inside `fn` continue the trace too.
 */
export async function withMessageTrace<T>(
  spanName: string,
  message: { id: string; name: string; traceparent: string | null },
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const parent = contextFromTraceparent(message.traceparent) ?? context.active();
  const span = tracer.startSpan(spanName, INTERNAL, parent);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'taskbus',
      'messaging.destination.name': message.name,
      'messaging.message.id': message.id,
    });
  }
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

function failSpan(span: Span, err: unknown): void {
  const e =
    err instanceof Error
      ? err
      : typeof err === 'object' && err !== null && 'message' in err
        ? { name: String((err as { name?: unknown }).name ?? 'Error'), message: String(err.message) }
        : { name: 'Error', message: String(err) };
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}
