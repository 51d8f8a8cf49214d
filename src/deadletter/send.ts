/**
 * The outbound calls of webhook and email actions. Each call either resolves with what the
 * other side said, or throws: a temporary failure (connection refused, timeout, 5xx, 4xx from
 * SMTP) with a plain Error, so the action task retries with backoff; a permanent one with
 * `PermanentActionError`, so it stops at once.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts';

export class PermanentActionError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentActionError';
  }
}

export interface WebhookRequest {
  url: string;
  secret: string;
  timeoutMs: number;
  headers: Record<string, string>;
  /** The JSON document to post. */
  payload: unknown;
  idempotencyKey: string;
  nowMs: number;
  signal: AbortSignal;
}

/** A response body is read (so the connection can be reused) but at most this much is kept. */
const RESPONSE_PREVIEW = 500;

/**
 * POSTs the payload as JSON with `Taskbus-Signature`, `Idempotency-Key` and
 * `Taskbus-Event: message.deadlettered`. Any 2xx is a delivery; anything else is retried, as a
 * receiver that is deploying may answer 404 or 503 for a while.
 */
export async function sendWebhook(r: WebhookRequest): Promise<{ status: number }> {
  const body = JSON.stringify(r.payload);
  let res: Response;
  try {
    res = await fetch(r.url, {
      method: 'POST',
      headers: {
        ...r.headers,
        'content-type': 'application/json',
        'user-agent': 'taskbus-webhook',
        'idempotency-key': r.idempotencyKey,
        'taskbus-event': 'message.deadlettered',
        [SIGNATURE_HEADER]: signatureHeader(r.secret, body, r.nowMs),
      },
      body,
      signal: AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)]),
      redirect: 'manual',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${r.timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new Error(`webhook ${r.url} failed: ${why}`);
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299) {
    throw new Error(`webhook ${r.url} answered ${res.status}: ${text.slice(0, RESPONSE_PREVIEW)}`);
  }
  return { status: res.status };
}

export interface EmailRequest {
  smtpUrl: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
  idempotencyKey: string;
}

/**
 * Sends one email. The Message-ID is derived from the idempotency key, so a mail sent twice
 * (the server accepted it, then the worker died before recording it) carries the same id and
 * mail clients show it once.
 */
export async function sendEmail(r: EmailRequest): Promise<{ messageId: string; accepted: string[] }> {
  const transport = nodemailer.createTransport({
    url: r.smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  const messageId = `<${createHash('sha256').update(r.idempotencyKey).digest('hex').slice(0, 32)}@taskbus>`;
  try {
    const info = await transport.sendMail({
      from: r.from,
      to: r.to,
      subject: r.subject,
      text: r.text,
      messageId,
      headers: { 'X-Taskbus-Idempotency-Key': r.idempotencyKey },
    });
    const address = (a: string | { address: string }) => (typeof a === 'string' ? a : a.address);
    return { messageId, accepted: info.accepted.map(address) };
  } catch (err) {
    const e = err as Error & { responseCode?: number; code?: string };
    // Every recipient refused for good (5xx at RCPT TO): retrying cannot help.
    if (e.code === 'EENVELOPE' && e.responseCode !== undefined && e.responseCode >= 500) {
      throw new PermanentActionError('SmtpRejected', e.message);
    }
    throw new Error(`email via ${redactUrl(r.smtpUrl)} failed: ${e.message}`);
  } finally {
    transport.close();
  }
}

function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
