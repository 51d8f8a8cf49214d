/**
 * Webhook signatures. A request carries `Taskbus-Signature: t=<unix seconds>,v1=<hex>` where
 * the hex is HMAC-SHA256 of `<t>.<raw body>` keyed with the rule's secret (the scheme Stripe
 * uses). The timestamp lets the receiver refuse replays: accept only a `t` within a few
 * minutes of its own clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'taskbus-signature';

/** The hex HMAC-SHA256 of `<t>.<body>`. */
export function webhookSignature(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The `Taskbus-Signature` header value for a body sent at `nowMs`. */
export function signatureHeader(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${webhookSignature(secret, t, body)}`;
}

/**
 * Verifies a `Taskbus-Signature` header for a raw body, in constant time. `toleranceSec`
 * (default 300) bounds how far `t` may be from `nowMs`. For receivers written in TypeScript.
 */
export function verifyWebhookSignature(
  secret: string,
  body: string | Buffer,
  headerValue: string | string[] | undefined,
  opts: { nowMs?: number; toleranceSec?: number } = {},
): boolean {
  const header = Array.isArray(headerValue) ? headerValue[0] : headerValue;
  if (!header) return false;
  const parts = new Map(
    header.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isInteger(t) || !given || !/^[0-9a-f]{64}$/.test(given)) return false;
  const now = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - t) > (opts.toleranceSec ?? 300)) return false;
  const want = webhookSignature(secret, t, Buffer.isBuffer(body) ? body.toString('utf8') : body);
  return timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(given, 'hex'));
}
