/**
 * send-email: sends a plain-text email with nodemailer.
 *
 * Body `{ to, subject, text }` → `{ messageId, accepted, rejected, transport }`. The SMTP server
 * is `SMTP_URL` (e.g. `smtp://user:pass@127.0.0.1:2525`, or `smtps://` for TLS) and the sender
 * `SMTP_FROM` (default `Taskbus <taskbus@localhost>`). Without `SMTP_URL` the message is only
 * composed with nodemailer's JSON transport and the result says it was not sent, so the
 * example runs on a machine with no mail server.
 *
 * A temporary failure (a 4xx reply, a connection error) throws and is retried with backoff. A
 * permanent rejection (a 5xx reply, such as an unknown recipient) cannot succeed later, so the
 * task dead-letters at once. The Message-ID is derived from the task id, so a message delivered
 * twice (the server accepted it but the worker died before completing) carries the same id.
 */
import nodemailer from 'nodemailer';

type TaskContext = {
  id?: string;
  signal?: AbortSignal;
  deadLetter?: (reason: string, description?: string) => unknown;
};
type EmailBody = { to: string; subject: string; text: string };
type EmailResult = {
  messageId: string;
  accepted: string[];
  rejected: string[];
  transport: 'smtp' | 'json';
  note?: string;
};

const address = (a: string | { address: string }) => (typeof a === 'string' ? a : a.address);

async function handler(body: EmailBody, ctx?: TaskContext): Promise<EmailResult> {
  const url = process.env.SMTP_URL;
  const mail = {
    from: process.env.SMTP_FROM || 'Taskbus <taskbus@localhost>',
    to: body.to,
    subject: body.subject,
    text: body.text,
    messageId: ctx?.id ? `<${ctx.id}@taskbus>` : undefined,
    signal: ctx?.signal,
  };
  if (!url) {
    const info = await nodemailer.createTransport({ jsonTransport: true }).sendMail(mail);
    return {
      messageId: info.messageId,
      accepted: info.envelope.to,
      rejected: [],
      transport: 'json',
      note: 'SMTP_URL is not set: the message was composed but not sent',
    };
  }
  const transport = nodemailer.createTransport(url);
  try {
    const info = await transport.sendMail(mail);
    return {
      messageId: info.messageId,
      accepted: info.accepted.map(address),
      rejected: info.rejected.map(address),
      transport: 'smtp',
    };
  } catch (err) {
    const code = (err as { responseCode?: number }).responseCode;
    if (code !== undefined && code >= 500 && ctx?.deadLetter) {
      await ctx.deadLetter('SmtpRejected', (err as Error).message);
    }
    throw err;
  } finally {
    transport.close();
  }
}

export default {
  handler,
  maxDeliveryCount: 5,
  backoff: { type: 'exponential', delayMs: 5000, maxDelayMs: 300_000, jitter: true },
  timeoutMs: 60_000,
  // One SMTP connection per running handler; mail servers throttle clients that open many.
  concurrency: 4,
  schema: {
    type: 'object',
    required: ['to', 'subject', 'text'],
    additionalProperties: false,
    properties: {
      to: { type: 'string', pattern: '^[^\\s@<>,;]+@[^\\s@<>,;]+$', maxLength: 254 },
      // RFC 5322 limits a header line to 998 characters.
      subject: { type: 'string', minLength: 1, maxLength: 900 },
      text: { type: 'string' },
    },
  },
};
