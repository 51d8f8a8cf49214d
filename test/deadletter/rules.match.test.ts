// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configError } from '../../src/config/config.ts';
import { deepPartialMatch, matchesCondition } from '../../src/deadletter/condition.ts';
import { compileFilter, parseTime } from '../../src/deadletter/filter.ts';
import {
  chooseRule,
  compileDeadLetterConfig,
  explainMessage,
  occurrenceOf,
} from '../../src/deadletter/rules.ts';
import { signatureHeader, verifyWebhookSignature } from '../../src/deadletter/signature.ts';
import { isTaskbusError } from '../../src/errors.ts';
import type { HistoryEvent, MessageRecord } from '../../src/types.ts';

const T0 = Date.UTC(2026, 0, 1);

function message(o: Partial<MessageRecord> & { json?: unknown } = {}): MessageRecord {
  const { json, ...rest } = o;
  return {
    id: '01a2216b-db01-7000-a2a0-8fa42c286e94',
    name: 'orders',
    state: 'deadlettered',
    body: {
      kind: 'json',
      json: JSON.stringify(json ?? { taskType: 'certainTaskType', order: { id: 7, lines: [1, 2] } }),
    },
    deliveryCount: 3,
    enqueuedAt: T0,
    visibleAt: T0,
    expiresAt: null,
    lockedUntil: null,
    lockedBy: null,
    completedAt: null,
    result: undefined,
    progress: undefined,
    deadLetterReason: 'MaxDeliveryCountExceeded',
    deadLetterErrorDescription: 'Error: payment gateway timed out',
    deadLetteredAt: T0 + 5000,
    idempotencyKey: null,
    traceparent: null,
    attempts: [1, 2, 3].map((n) => ({
      number: n,
      startedAt: T0 + n,
      endedAt: T0 + n + 1,
      worker: 'w',
      error: { name: 'Error', message: n === 3 ? 'payment gateway timed out' : 'boom' },
    })),
    history: [],
    ...rest,
  };
}

const compile = (config: Record<string, unknown>) => compileDeadLetterConfig(config, configError);

/** The field an invalid config names, or the message when it names none. */
function invalidField(config: Record<string, unknown>): string {
  try {
    compile(config);
  } catch (err) {
    assert.ok(isTaskbusError(err, 'INVALID_CONFIG'), String(err));
    return String(err.details?.field);
  }
  assert.fail('expected the config to be refused');
}

describe('dead-letter conditions', () => {
  it('deepPartialMatch › objects by key, arrays by containment, values strictly', () => {
    const v = { taskType: 'certainTaskType', order: { id: 7, lines: [1, 2, { sku: 'a' }] }, n: null };
    assert.equal(deepPartialMatch({ taskType: 'certainTaskType' }, v), true);
    assert.equal(deepPartialMatch({ order: { id: 7 } }, v), true);
    assert.equal(deepPartialMatch({ order: { lines: [2, { sku: 'a' }] } }, v), true);
    assert.equal(deepPartialMatch({ n: null }, v), true);
    assert.equal(deepPartialMatch({ order: { id: '7' } }, v), false, 'no type coercion');
    assert.equal(deepPartialMatch({ order: { lines: [3] } }, v), false);
    assert.equal(deepPartialMatch({ missing: undefined }, v), false);
    assert.equal(deepPartialMatch({ order: [] }, v), false, 'an array pattern needs an array');
  });

  it('matchesCondition › every condition given must hold', () => {
    const m = message();
    const c = (when: Record<string, unknown>) =>
      compile({ deadLetters: { rules: [{ when, then: 'discard' }] } }).rules[0].when;
    assert.equal(matchesCondition(c({}), m), true);
    assert.equal(matchesCondition(c({ task: ['invoices', 'orders'] }), m), true);
    assert.equal(matchesCondition(c({ task: 'invoices' }), m), false);
    assert.equal(matchesCondition(c({ reason: 'MaxDeliveryCountExceeded' }), m), true);
    assert.equal(matchesCondition(c({ reason: 'TTLExpiredException' }), m), false);
    assert.equal(matchesCondition(c({ bodyContains: '"taskType":"certainTaskType"' }), m), true);
    assert.equal(matchesCondition(c({ body: { taskType: 'certainTaskType' }, error: /timed out/ }), m), true);
    assert.equal(matchesCondition(c({ body: { taskType: 'other' } }), m), false);
    assert.equal(matchesCondition(c({ error: '/GATEWAY/i' }), m), true, '/pattern/flags string');
    assert.equal(matchesCondition(c({ error: 'refused' }), m), false);
    assert.equal(matchesCondition(c({ attempts: 3 }), m), true);
    assert.equal(matchesCondition(c({ attempts: { min: 4 } }), m), false);
    const bytes = message({
      body: { kind: 'bytes', bytes: Buffer.from('taskType=x'), contentType: 'text/plain' },
    });
    assert.equal(matchesCondition(c({ bodyContains: 'taskType=x' }), bytes), true);
    assert.equal(matchesCondition(c({ body: { taskType: 'x' } }), bytes), false, 'a body pattern needs JSON');
  });

  it('error › is tested against the description and the last attempt error', () => {
    const c = compile({ deadLetters: { rules: [{ when: { error: '^TypeError: ' }, then: 'discard' }] } })
      .rules[0].when;
    const m = message({
      deadLetterReason: 'InvalidInvoice',
      deadLetterErrorDescription: 'customer id is missing',
      attempts: [
        {
          number: 1,
          startedAt: T0,
          endedAt: T0,
          worker: null,
          error: { name: 'TypeError', message: 'x is undefined' },
        },
      ],
    });
    assert.equal(matchesCondition(c, m), true);
  });
});

describe('dead-letter rules', () => {
  const rules = compile({
    smtp: { url: 'smtp://127.0.0.1:2525' },
    deadLetters: {
      rules: [
        {
          name: 'remedy',
          when: { body: { taskType: 'certainTaskType' } },
          then: { invoke: 'remedy' },
          mode: 'auto-complete',
        },
        {
          name: 'retry-later',
          when: { reason: 'Throttled' },
          then: { resubmit: { delayMs: 60_000, times: 2 } },
        },
        { name: 'team', then: [{ email: { to: 'team@example.com' } }, 'discard'] },
      ],
    },
  }).rules;

  it('chooseRule › the first rule whose when holds wins; a catch-all goes last', () => {
    assert.equal(chooseRule(rules, message()).rule?.name, 'remedy');
    assert.equal(chooseRule(rules, message({ json: { taskType: 'other' } })).rule?.name, 'team');
  });

  it('chooseRule › a rule whose resubmit budget is spent is passed over', () => {
    const resubmitted = (rule: string): HistoryEvent => ({
      at: T0,
      type: 'resubmitted',
      data: { by: 'rule', rule },
    });
    const base = { json: { taskType: 'other' }, deadLetterReason: 'Throttled' };
    assert.equal(chooseRule(rules, message(base)).rule?.name, 'retry-later');
    const once = message({ ...base, history: [resubmitted('retry-later')] });
    assert.equal(chooseRule(rules, once).rule?.name, 'retry-later');
    const twice = message({ ...base, history: [resubmitted('retry-later'), resubmitted('retry-later')] });
    const choice = chooseRule(rules, twice);
    assert.equal(choice.rule?.name, 'team');
    assert.deepEqual(choice.skipped, [{ rule: 'retry-later', why: 'resubmit limit reached (2 of 2)' }]);
    assert.equal(occurrenceOf(twice), 3);
    assert.deepEqual(explainMessage(rules, twice).actions, ['email team@example.com', 'discard']);
  });

  it('defaults › rule names, peek-lock, action retries, public URL', () => {
    const c = compile({ deadLetters: { rules: [{ then: { invoke: 'remedy' } }] } });
    assert.equal(c.rules[0].name, 'rule-1');
    assert.equal(c.rules[0].mode, 'peek-lock');
    assert.equal(c.actions.maxDeliveryCount, 20);
    assert.equal(c.publicUrl, 'http://127.0.0.1:7071');
    assert.equal(c.smtp, null);
  });

  it('invalid config › names the field', () => {
    const rule = (r: Record<string, unknown>) => ({ deadLetters: { rules: [r] } });
    assert.equal(invalidField(rule({ then: { sms: '+123' } })), 'deadLetters.rules[0].then[0]');
    assert.equal(
      invalidField(rule({ when: { error: '(' }, then: 'discard' })),
      'deadLetters.rules[0].when.error',
    );
    assert.equal(
      invalidField(rule({ when: { bodyMatches: {} }, then: 'discard' })),
      'deadLetters.rules[0].when.bodyMatches',
    );
    assert.equal(invalidField(rule({ then: [] })), 'deadLetters.rules[0].then');
    assert.equal(
      invalidField(rule({ then: 'discard', mode: 'receive-and-delete' })),
      'deadLetters.rules[0].mode',
    );
    assert.equal(
      invalidField(rule({ then: { webhook: { url: 'ftp://x', secret: '12345678' } } })),
      'deadLetters.rules[0].then[0].webhook.url',
    );
    assert.equal(
      invalidField(rule({ then: { webhook: { url: 'http://127.0.0.1/' } } })),
      'deadLetters.rules[0].then[0].webhook.secret',
    );
    assert.equal(invalidField(rule({ then: { email: { to: 'team@example.com' } } })), 'smtp');
    assert.equal(
      invalidField(rule({ then: { resubmit: { times: 0 } } })),
      'deadLetters.rules[0].then[0].resubmit.times',
    );
    assert.equal(invalidField(rule({ then: [{ resubmit: {} }, 'discard'] })), 'deadLetters.rules[0].then');
    assert.equal(
      invalidField({
        deadLetters: {
          rules: [
            { name: 'a', then: 'discard' },
            { name: 'a', then: 'discard' },
          ],
        },
      }),
      'deadLetters.rules[1].name',
    );
    assert.equal(
      invalidField({ deadLetters: { rules: [], actions: { backoff: { type: 'linear' } } } }),
      'deadLetters.actions.backoff.type',
    );
    assert.equal(invalidField({ deadLetters: { rule: [] } }), 'deadLetters.rule');
    assert.equal(invalidField({ publicUrl: 'not a url' }), 'publicUrl');
  });
});

describe('redrive filters', () => {
  it('compileFilter › time range over the dead-letter time; durations count back from now', () => {
    const now = T0 + 3_600_000;
    const f = compileFilter({ since: '2h', until: new Date(now).toISOString() }, now);
    assert.equal(f.since, now - 7_200_000);
    assert.equal(matchesCondition(f, message()), true);
    assert.equal(matchesCondition(compileFilter({ since: T0 + 5001 }, now), message()), false);
    assert.equal(
      matchesCondition(compileFilter({ until: T0 + 5000 }, now), message()),
      false,
      'until is exclusive',
    );
    assert.throws(() => parseTime('yesterday', 'filter.since', now), /filter\.since/);
    assert.throws(() => compileFilter({ reason: 5 }, now), /filter\.reason/);
  });
});

describe('webhook signature', () => {
  it('verify › accepts the header it was signed with, refuses a changed body, secret or an old timestamp', () => {
    const body = JSON.stringify({ a: 1 });
    const header = signatureHeader('s3cret-s3cret', body, T0);
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature('s3cret-s3cret', body, header, { nowMs: T0 + 1000 }), true);
    assert.equal(verifyWebhookSignature('s3cret-s3cret', `${body} `, header, { nowMs: T0 }), false);
    assert.equal(verifyWebhookSignature('other-secret', body, header, { nowMs: T0 }), false);
    assert.equal(verifyWebhookSignature('s3cret-s3cret', body, header, { nowMs: T0 + 600_000 }), false);
    assert.equal(verifyWebhookSignature('s3cret-s3cret', body, undefined), false);
  });
});
