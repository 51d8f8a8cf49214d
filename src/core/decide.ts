import type { AttemptError, BackoffSettings } from '../types.ts';
import { DeadLetterReason } from '../types.ts';
import { retryDelayMs } from './backoff.ts';

/** What to do with a message whose delivery failed. Pure: no I/O, time and randomness injected. */
export type FailureOutcome =
  | { kind: 'retry'; visibleAt: number }
  | { kind: 'deadletter'; reason: string; description: string };

export interface FailureInput {
  deliveryCount: number;
  maxDeliveryCount: number;
  backoff: BackoffSettings;
  error: AttemptError;
  now: number;
  random: () => number;
  /** Set when the handler called ctx.deadLetter(reason, description). */
  deadLetter?: { reason: string; description: string };
}

/**
 * Retry or dead-letter (SPEC §3): deliveries are counted at receive, so after the
 * `maxDeliveryCount`-th delivery fails the message is dead-lettered with
 * `MaxDeliveryCountExceeded` and the last error as description.
 */
export function decideFailure(input: FailureInput): FailureOutcome {
  if (input.deadLetter) return { kind: 'deadletter', ...input.deadLetter };
  if (input.deliveryCount >= input.maxDeliveryCount) {
    return {
      kind: 'deadletter',
      reason: DeadLetterReason.MaxDeliveryCountExceeded,
      description: describeError(input.error),
    };
  }
  return {
    kind: 'retry',
    visibleAt: input.now + retryDelayMs(input.backoff, input.deliveryCount, input.random),
  };
}

export function describeError(error: AttemptError): string {
  return error.message ? `${error.name}: ${error.message}` : error.name;
}

/** Turns anything thrown into the recorded error shape. */
export function toAttemptError(thrown: unknown): AttemptError {
  if (thrown instanceof Error) {
    return { name: thrown.name || 'Error', message: thrown.message, stack: thrown.stack };
  }
  return {
    name: 'Error',
    message: typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown)),
  };
}

/** The error recorded for a delivery lost to a crash (SPEC §4). */
export const LOCK_EXPIRED_ERROR: AttemptError = { name: 'LockLostError', message: 'lock expired' };
