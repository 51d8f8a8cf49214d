/**
 * Dead-letter rules as a user writes them in `taskbus.config.ts`, and as the runtime uses them
 * once validated ("compiled").
 *
 * A rule reacts to a message the moment it is dead-lettered: rules are tried in order and the
 * first whose `when` holds runs its `then` actions, each as an internal task with its own
 * retries. `mode` says what happens to the message once every action succeeded.
 */
import type { BackoffSettings } from '../types.ts';

/** Conditions on a dead-lettered message. All optional; every one given must hold. */
export interface RuleCondition {
  /** The message's task name, or one of several. */
  task?: string | string[];
  /** The dead-letter reason (`MaxDeliveryCountExceeded`, `TTLExpiredException`, or a handler's). */
  reason?: string | string[];
  /**
   * A deep partial match on the JSON body: every key given must be present with a matching
   * value; arrays match when each given element matches some element (as PostgreSQL's `@>`).
   */
  body?: Record<string, unknown>;
  /** A substring of the raw body (stored JSON text, e.g. `"taskType":"certainTaskType"`). */
  bodyContains?: string;
  /**
   * A regular expression (a RegExp, a pattern string, or `/pattern/flags`) tested against the
   * dead-letter error description and the last attempt's error (`Name: message`).
   */
  error?: string | RegExp;
  /** The number of attempts recorded (all of them, across resubmits): exact, or a range. */
  attempts?: number | { min?: number; max?: number };
}

/** Call another task with the dead-lettered message, its reason and its attempts as the body. */
export interface InvokeAction {
  invoke: string | { task: string };
}

/** POST the dead-letter as JSON, signed with HMAC-SHA256 (header `Taskbus-Signature`). */
export interface WebhookAction {
  webhook: {
    url: string;
    /** Signs `<unix seconds>.<body>`; the receiver verifies with the same secret. */
    secret: string;
    /** Per request (default 10000). */
    timeoutMs?: number;
    /** Extra request headers. */
    headers?: Record<string, string>;
  };
}

/** Email a readable report over the config's `smtp`. */
export interface EmailAction {
  email: {
    to: string | string[];
    /** Default: `[Taskbus] <task> dead-lettered: <reason>`. */
    subject?: string;
  };
}

/** Put the message back on its queue after a delay, at most `times` times per rule. */
export interface ResubmitAction {
  resubmit: { delayMs?: number; times?: number };
}

/** Remove the message from the DLQ (after the rule's other actions succeeded). */
export type DiscardAction = 'discard' | { discard: true };

export type RuleAction = InvokeAction | WebhookAction | EmailAction | ResubmitAction | DiscardAction;

export type RuleMode = 'peek-lock' | 'auto-complete';

export interface DeadLetterRule {
  /** Names the rule in history, idempotency keys and the dry run. Default `rule-<n>` (1-based). */
  name?: string;
  when?: RuleCondition;
  then: RuleAction | RuleAction[];
  /**
   * `peek-lock` (default): the message stays in the DLQ, marked handled by the rule.
   * `auto-complete`: the message is removed from the DLQ once every action succeeded.
   */
  mode?: RuleMode;
}

/** Retries of the internal tasks that run actions. */
export interface ActionRetrySettings {
  /** Default 20: with the default backoff about two hours of retrying. */
  maxDeliveryCount?: number;
  /** Default exponential from 2 s, at most 10 min between attempts, with jitter. */
  backoff?: BackoffSettings;
  /** Per attempt (default 60000). */
  timeoutMs?: number;
}

/** The `deadLetters` section of the config. */
export interface DeadLetterConfig {
  rules?: DeadLetterRule[];
  actions?: ActionRetrySettings;
}

/** The `smtp` section of the config: where email actions are sent. */
export interface SmtpConfig {
  /** `smtp://user:pass@host:587` or `smtps://…`. */
  url: string;
  /** Default `Taskbus <taskbus@localhost>`. */
  from?: string;
}

// ---- compiled ----

export interface CompiledCondition {
  tasks: string[] | null;
  reasons: string[] | null;
  body: Record<string, unknown> | null;
  bodyContains: string | null;
  error: RegExp | null;
  attempts: { min: number; max: number } | null;
  /** Dead-lettered at or after / before (filters only). */
  since: number | null;
  until: number | null;
}

export type CompiledAction =
  | { type: 'invoke'; task: string }
  | { type: 'webhook'; url: string; secret: string; timeoutMs: number; headers: Record<string, string> }
  | { type: 'email'; to: string[]; subject: string | null }
  | { type: 'resubmit'; delayMs: number; times: number }
  | { type: 'discard' };

/** Actions that run as internal tasks (discard is done when the rule finishes). */
export type TaskAction = Exclude<CompiledAction, { type: 'discard' }>;

export interface CompiledRule {
  name: string;
  when: CompiledCondition;
  actions: CompiledAction[];
  mode: RuleMode;
  /** Has a discard action: the message is purged once the other actions succeeded. */
  discard: boolean;
}

export interface CompiledDeadLetterConfig {
  rules: CompiledRule[];
  actions: { maxDeliveryCount: number; backoff: BackoffSettings; timeoutMs: number };
  smtp: { url: string; from: string } | null;
  publicUrl: string;
}
