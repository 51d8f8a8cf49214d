/**
 * What actions send: the dead-letter payload (remedy task body, webhook JSON) and the email.
 * Pure: built from the message record as it was when the rule matched, so an action still
 * reports the dead-lettering after the message was resubmitted or purged.
 */
import { bodyDocument } from '../http/documents.ts';
import type { MessageRecord } from '../types.ts';
import { lastErrorText } from './condition.ts';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** The dead-lettering, as the remedy task receives it and the webhook posts it. */
export interface DeadLetterPayload {
  /** The rule that matched. */
  rule: string;
  /** 1 for the first dead-lettering of the message, 2 after one resubmit… */
  occurrence: number;
  message: {
    id: string;
    name: string;
    body: unknown;
    enqueuedAt: string;
    deadLetteredAt: string | null;
    deliveryCount: number;
  };
  reason: string;
  description: string | null;
  /** One line: the description, and the last attempt's error when it says more. */
  lastError: string;
  attempts: {
    number: number;
    startedAt: string;
    endedAt: string;
    error: { name: string; message: string; stack: string | null } | null;
  }[];
  /** Where a person can look at the message: its dashboard page. */
  link: string;
  /** The message document in the admin API (master key). */
  apiUrl: string;
}

/** The dashboard page of a message, for people. */
export function messageLink(publicUrl: string, id: string): string {
  return `${publicUrl}/dashboard/messages/${id}`;
}

export function deadLetterPayload(
  m: MessageRecord,
  rule: string,
  occurrence: number,
  publicUrl: string,
): DeadLetterPayload {
  return {
    rule,
    occurrence,
    message: {
      id: m.id,
      name: m.name,
      body: bodyDocument(m.body),
      enqueuedAt: iso(m.enqueuedAt)!,
      deadLetteredAt: iso(m.deadLetteredAt),
      deliveryCount: m.deliveryCount,
    },
    reason: m.deadLetterReason ?? 'unknown',
    description: m.deadLetterErrorDescription,
    lastError: lastErrorText(m),
    attempts: m.attempts.map((a) => ({
      number: a.number,
      startedAt: iso(a.startedAt)!,
      endedAt: iso(a.endedAt)!,
      error: a.error ? { name: a.error.name, message: a.error.message, stack: a.error.stack ?? null } : null,
    })),
    link: messageLink(publicUrl, m.id),
    apiUrl: `${publicUrl}/admin/messages/${m.id}`,
  };
}

/** What the invoked (remedy) task receives: the message, its reason and its attempts. */
export function remedyBody(p: DeadLetterPayload) {
  return {
    message: p.message,
    reason: p.reason,
    description: p.description,
    attempts: p.attempts,
    rule: p.rule,
    occurrence: p.occurrence,
  };
}

const BODY_PREVIEW_CHARS = 2000;

/** The email: subject and a plain-text body a person can act on. */
export function emailContent(
  p: DeadLetterPayload,
  subject: string | null,
): { subject: string; text: string } {
  const body = JSON.stringify(p.message.body, null, 2) ?? 'null';
  const preview =
    body.length > BODY_PREVIEW_CHARS
      ? `${body.slice(0, BODY_PREVIEW_CHARS)}\n… (${body.length} characters)`
      : body;
  const attempts = p.attempts.map(
    (a) => `  #${a.number}  ${a.startedAt}  ${a.error ? `${a.error.name}: ${a.error.message}` : 'succeeded'}`,
  );
  const text = [
    `A '${p.message.name}' task was dead-lettered and rule '${p.rule}' matched it.`,
    '',
    `Task:           ${p.message.name}`,
    `Id:             ${p.message.id}`,
    `Reason:         ${p.reason}`,
    `Last error:     ${p.lastError}`,
    `Attempts:       ${p.attempts.length}`,
    `Enqueued:       ${p.message.enqueuedAt}`,
    `Dead-lettered:  ${p.message.deadLetteredAt ?? 'unknown'}`,
    `Link:           ${p.link}`,
    '',
    'Attempts:',
    ...(attempts.length ? attempts : ['  none (the message was never delivered)']),
    '',
    'Body:',
    preview,
    '',
    `Resubmit it with: taskbus dlq resubmit ${p.message.name} ${p.message.id}`,
    '',
  ].join('\n');
  return { subject: subject ?? `[Taskbus] ${p.message.name} dead-lettered: ${p.reason}`, text };
}
