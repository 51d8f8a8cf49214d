/**
 * Rules at run time. Two kinds of internal tasks do the work, so a crash loses nothing:
 *
 * 1. `$deadletter` consumes the outbox: the driver enqueues one `{ id, name, reason }` message
 *    in the same transaction as every dead-lettering. Its handler picks the rule, records the
 *    choice on the dead-lettered message's history, and enqueues one task per action.
 * 2. `$invoke`, `$webhook`, `$email` and `$resubmit` each run one action with their own retries
 *    and backoff. Each is enqueued with the idempotency key
 *    `deadletter:<message id>:<occurrence>:<rule>:<action index>`, so a `$deadletter` delivery
 *    that is repeated after a crash enqueues nothing twice, and each action runs once per
 *    dead-lettering (at least once: the key is sent along for the receiver to deduplicate).
 *
 * When the last action of a rule succeeds, the rule finishes: `auto-complete` (or a `discard`
 * action) purges the message, `peek-lock` records `rule.handled` and leaves it in the DLQ.
 */

import type { Logger } from 'pino';
import { DEFAULT_SETTINGS, type TaskSettings } from '../core/settings.ts';
import { withMessageTrace } from '../observability/tracing.ts';
import { DEADLETTER_EVENT_TASK } from '../storage/common.ts';
import type { Taskbus } from '../taskbus.ts';
import type { LoadedTask, TaskContext } from '../tasks/define.ts';
import type { MessageRecord } from '../types.ts';
import { DeadLetterSignal } from '../worker/runner.ts';
import { type DeadLetterPayload, deadLetterPayload, emailContent, remedyBody } from './payload.ts';
import {
  chooseRule,
  describeAction,
  occurrenceOf,
  RULE_EVENTS,
  recordedChoice,
  resubmitsByRule,
  succeededActions,
  taskActions,
  wasHandled,
} from './rules.ts';
import { PermanentActionError, sendEmail, sendWebhook } from './send.ts';
import type { CompiledDeadLetterConfig, CompiledRule, TaskAction } from './types.ts';

/** The internal task that runs each kind of action. */
export const ACTION_TASKS: Record<TaskAction['type'], string> = {
  invoke: '$invoke',
  webhook: '$webhook',
  email: '$email',
  resubmit: '$resubmit',
};

/** The body of an action task. */
export interface ActionTaskBody {
  key: string;
  rule: string;
  /** Index of the action in the rule's `then`. */
  action: number;
  type: TaskAction['type'];
  payload: DeadLetterPayload;
}

interface DeadLetterEvent {
  id: string;
  name: string;
  reason: string;
}

export class DeadLetterRuntime {
  private readonly log: Logger;

  constructor(
    readonly tb: Taskbus,
    readonly config: CompiledDeadLetterConfig,
  ) {
    this.log = tb.log.child({ component: 'deadletter' });
  }

  get rules(): readonly CompiledRule[] {
    return this.config.rules;
  }

  /** The internal tasks to add to the Taskbus before its workers start. */
  tasks(): LoadedTask[] {
    const evaluator: TaskSettings = {
      ...DEFAULT_SETTINGS,
      // Evaluating only reads and enqueues: it fails only when storage does, so retry for long.
      maxDeliveryCount: 50,
      backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 60_000, jitter: true },
      timeoutMs: 60_000,
      concurrency: 4,
      auth: 'admin',
    };
    const action: TaskSettings = {
      ...DEFAULT_SETTINGS,
      ...this.config.actions,
      lockDurationMs: Math.max(DEFAULT_SETTINGS.lockDurationMs, this.config.actions.timeoutMs + 10_000),
      concurrency: 4,
      auth: 'admin',
    };
    const task = (
      name: string,
      settings: TaskSettings,
      handler: LoadedTask['handler'],
      description: string,
    ) => ({
      name,
      handler,
      settings,
      description,
      file: null,
    });
    return [
      task(
        DEADLETTER_EVENT_TASK,
        evaluator,
        (b, ctx) => this.evaluate(b, ctx),
        'dead-letter rules: picks the rule',
      ),
      ...Object.entries(ACTION_TASKS).map(([type, name]) =>
        task(name, action, (b, ctx) => this.runAction(b, ctx), `dead-letter rules: ${type} action`),
      ),
    ];
  }

  /** `$deadletter`: chooses the rule for one dead-lettering and enqueues its actions. */
  async evaluate(event: DeadLetterEvent, ctx: TaskContext): Promise<unknown> {
    const m = await this.tb.getTask(event.id);
    if (!m) return { skipped: 'the message no longer exists' };
    if (m.state !== 'deadlettered') return { skipped: `the message is ${m.state} now` };
    // The event and the dead-lettering share one `now`. A later dead-lettering (after a
    // resubmit) has its own event, which handles it.
    if ((m.deadLetteredAt ?? 0) > ctx.enqueuedAt.getTime()) return { skipped: 'dead-lettered again since' };
    const occurrence = occurrenceOf(m);
    const recorded = recordedChoice(m, occurrence);
    let rule: CompiledRule | null;
    if (recorded) {
      // A repeated delivery (the first crashed after recording): keep the first choice.
      if (recorded.type === RULE_EVENTS.unmatched) return { rule: null, occurrence };
      rule = this.rules.find((r) => r.name === recorded.data.rule) ?? null;
      if (!rule) {
        this.log.warn({ id: m.id, rule: recorded.data.rule }, 'the matched rule is no longer configured');
        return { skipped: `rule '${recorded.data.rule}' is no longer configured` };
      }
    } else {
      const choice = chooseRule(this.rules, m);
      rule = choice.rule;
      await this.history(m.id, rule ? RULE_EVENTS.matched : RULE_EVENTS.unmatched, {
        ...(rule
          ? {
              rule: rule.name,
              occurrence,
              mode: rule.mode,
              discard: rule.discard,
              actions: rule.actions.map(describeAction),
              actionTasks: taskActions(rule).map((a) => a.index),
            }
          : { occurrence }),
        ...(choice.skipped.length ? { skipped: choice.skipped } : {}),
      });
    }
    if (!rule) {
      this.log.info({ id: m.id, task: m.name, reason: m.deadLetterReason }, 'no dead-letter rule matched');
      return { rule: null, occurrence };
    }
    const payload = deadLetterPayload(m, rule.name, occurrence, this.config.publicUrl);
    const actions = taskActions(rule);
    const ruleName = rule.name;
    // The actions join the dead-lettered message's trace: request → handler → rule actions.
    await withMessageTrace(`deadletter ${ruleName}`, m, async () => {
      for (const { index, action } of actions) {
        const key = `deadletter:${m.id}:${occurrence}:${ruleName}:${index}`;
        const body: ActionTaskBody = { key, rule: ruleName, action: index, type: action.type, payload };
        await this.tb.enqueue(ACTION_TASKS[action.type], body, {
          idempotencyKey: key,
          delayMs: action.type === 'resubmit' ? action.delayMs : undefined,
        });
      }
    });
    if (actions.length === 0) await this.finish(m.id, rule.name, occurrence);
    this.log.info({ id: m.id, task: m.name, rule: rule.name, occurrence }, 'dead-letter rule matched');
    return { rule: rule.name, occurrence, actions: actions.length };
  }

  /** `$invoke`, `$webhook`, `$email`, `$resubmit`: runs one action and records what it did. */
  async runAction(body: ActionTaskBody, ctx: TaskContext): Promise<unknown> {
    const id = body.payload.message.id;
    const occurrence = body.payload.occurrence;
    const action = this.rules.find((r) => r.name === body.rule)?.actions[body.action];
    if (!action || action.type !== body.type) {
      return ctx.deadLetter(
        'RuleChanged',
        `rule '${body.rule}' has no ${body.type} action at then[${body.action}] now`,
      );
    }
    const before = await this.tb.getTask(id);
    // Purged meanwhile (by an operator, or by this rule finishing before a repeated delivery):
    // there is nothing left to act on or to record the action on.
    if (!before) return { skipped: 'the message was purged' };
    // Done already: a repeated delivery after the action succeeded and was recorded.
    if (succeededActions(before, body.rule, occurrence).has(body.action)) {
      await this.finish(id, body.rule, occurrence);
      return { already: true };
    }
    let detail: Record<string, unknown>;
    try {
      detail = await this.perform(action, body, before, ctx);
    } catch (thrown) {
      const permanent = thrown instanceof PermanentActionError || thrown instanceof DeadLetterSignal;
      const last = permanent || ctx.deliveryCount >= this.config.actions.maxDeliveryCount;
      // The first failure and the last one are recorded; the attempts in between are on the
      // action task itself (taskbus dlq show / the dashboard).
      if (ctx.deliveryCount === 1 || last) {
        await this.history(id, RULE_EVENTS.action, {
          rule: body.rule,
          occurrence,
          action: body.action,
          type: body.type,
          status: 'failed',
          attempt: ctx.deliveryCount,
          willRetry: !last,
          error: (thrown as Error).message,
        }).catch((err) => this.log.warn({ err }, 'could not record the failed action'));
      }
      if (thrown instanceof PermanentActionError) return ctx.deadLetter(thrown.reason, thrown.message);
      throw thrown;
    }
    await this.history(id, RULE_EVENTS.action, {
      rule: body.rule,
      occurrence,
      action: body.action,
      type: body.type,
      status: 'succeeded',
      attempt: ctx.deliveryCount,
      detail,
    });
    await this.finish(id, body.rule, occurrence);
    return detail;
  }

  private async perform(
    action: TaskAction,
    body: ActionTaskBody,
    current: MessageRecord,
    ctx: TaskContext,
  ): Promise<Record<string, unknown>> {
    const p = body.payload;
    switch (action.type) {
      case 'invoke': {
        const r = await this.tb.enqueue(action.task, remedyBody(p), { idempotencyKey: body.key });
        return { task: action.task, id: r.id };
      }
      case 'webhook': {
        const r = await sendWebhook({
          url: action.url,
          secret: action.secret,
          timeoutMs: action.timeoutMs,
          headers: action.headers,
          payload: { type: 'message.deadlettered', idempotencyKey: body.key, ...p },
          idempotencyKey: body.key,
          nowMs: this.tb.clock.now(),
          signal: ctx.signal,
        });
        return { url: action.url, status: r.status };
      }
      case 'email': {
        const smtp = this.config.smtp;
        if (!smtp) throw new PermanentActionError('SmtpNotConfigured', 'the config has no smtp section');
        const { subject, text } = emailContent(p, action.subject);
        const r = await sendEmail({
          smtpUrl: smtp.url,
          from: smtp.from,
          to: action.to,
          subject,
          text,
          idempotencyKey: body.key,
        });
        return { to: action.to, accepted: r.accepted, messageId: r.messageId };
      }
      case 'resubmit': {
        if (current.state !== 'deadlettered' || occurrenceOf(current) !== p.occurrence) {
          return {
            resubmitted: false,
            why: 'the message left the dead-letter queue before the delay passed',
          };
        }
        const done = resubmitsByRule(current, body.rule);
        if (done >= action.times)
          return { resubmitted: false, why: `resubmit limit reached (${done} of ${action.times})` };
        const r = await this.tb.resubmit(current.name, {
          ids: [current.id],
          event: { by: 'rule', rule: body.rule, occurrence: p.occurrence, time: done + 1, of: action.times },
        });
        return { resubmitted: r.resubmitted.length === 1, time: done + 1, of: action.times };
      }
    }
  }

  /**
   * Ends a rule once all its action tasks succeeded: purge (auto-complete, discard) or mark
   * handled (peek-lock). Two actions finishing at once may both get here; both see every
   * success (each recorded its own before reading), the purge is idempotent and a doubled
   * `rule.handled` is harmless.
   */
  async finish(id: string, rule: string, occurrence: number): Promise<void> {
    const m = await this.tb.getTask(id);
    if (!m) return;
    const matched = m.history.find(
      (h) => h.type === RULE_EVENTS.matched && h.data.rule === rule && h.data.occurrence === occurrence,
    );
    if (!matched || wasHandled(m, rule, occurrence)) return;
    const done = succeededActions(m, rule, occurrence);
    if (!(matched.data.actionTasks as number[]).every((i) => done.has(i))) return;
    const stillThere = m.state === 'deadlettered' && occurrenceOf(m) === occurrence;
    if (stillThere && (matched.data.discard || matched.data.mode === 'auto-complete')) {
      await this.tb.purge(m.name, [m.id]);
      this.log.info({ id, task: m.name, rule }, 'dead-letter rule completed: message removed from the DLQ');
      return;
    }
    await this.history(id, RULE_EVENTS.handled, {
      rule,
      occurrence,
      mode: matched.data.mode,
      ...(stillThere ? {} : { note: 'the message had left the dead-letter queue' }),
    });
  }

  private async history(id: string, type: string, data: Record<string, unknown>): Promise<void> {
    await this.tb.driver.addHistory({ id, event: { at: this.tb.clock.now(), type, data } });
  }
}
