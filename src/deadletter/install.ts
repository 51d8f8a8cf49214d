/**
 * Wiring of dead-letter rules into a process: the config section validator (so an invalid rule
 * stops the start naming the field), the internal tasks, and the wake-up of `$deadletter` when
 * a message dead-letters in this process.
 */
import { configError, registerConfigSection, type TaskbusConfig } from '../config/config.ts';
import { DEADLETTER_EVENT_TASK } from '../storage/common.ts';
import type { Taskbus } from '../taskbus.ts';
import { compileDeadLetterConfig } from './rules.ts';
import { DeadLetterRuntime } from './runtime.ts';
import type { CompiledDeadLetterConfig, CompiledRule, DeadLetterConfig, SmtpConfig } from './types.ts';

declare module '../config/config.ts' {
  interface TaskbusConfig {
    /** Dead-letter rules and the retries of their actions (docs/dead-letters.md). */
    deadLetters?: DeadLetterConfig;
    /** The SMTP server email actions send through. */
    smtp?: SmtpConfig;
    /** The base URL people reach this Taskbus at, for links in notifications (default http://127.0.0.1:7071). */
    publicUrl?: string;
  }
}

registerConfigSection((c) => {
  compileDeadLetterConfig(c, configError);
});

/** Validates and compiles the dead-letter part of a config; throws INVALID_CONFIG naming the field. */
export function loadDeadLetterConfig(config: TaskbusConfig): CompiledDeadLetterConfig {
  return compileDeadLetterConfig(config, configError);
}

/** Whether storage must enqueue `$deadletter` events (driver option `deadLetterEvents`). */
export function wantsDeadLetterEvents(config: TaskbusConfig): boolean {
  const rules = (config.deadLetters as { rules?: unknown } | undefined)?.rules;
  return Array.isArray(rules) && rules.length > 0;
}

const installed = new WeakMap<Taskbus, DeadLetterRuntime>();

/**
 * Installs the rules of `config` on a Taskbus, before its workers start: adds the internal
 * tasks (`$deadletter`, `$invoke`, `$webhook`, `$email`, `$resubmit`) when there are rules, and
 * makes the rules available to the dry run. The driver must have been opened with
 * `deadLetterEvents: true` (see wantsDeadLetterEvents) for rules to see dead-letterings.
 */
export function installDeadLetters(tb: Taskbus, config: TaskbusConfig): DeadLetterRuntime {
  const existing = installed.get(tb);
  if (existing) return existing;
  const compiled = loadDeadLetterConfig(config);
  for (const [i, rule] of compiled.rules.entries()) {
    for (const [j, a] of rule.actions.entries()) {
      if (a.type === 'invoke' && !tb.tasks.has(a.task))
        throw configError(`deadLetters.rules[${i}].then[${j}].invoke`, `no task named '${a.task}' is loaded`);
    }
  }
  const runtime = new DeadLetterRuntime(tb, compiled);
  if (compiled.rules.length) {
    for (const t of runtime.tasks()) tb.addInternalTask(t);
    // Settling does not wake other runners; the outbox message is committed by now, so look
    // at once instead of at the next poll.
    tb.on('settled', (e) => {
      if (e.kind === 'deadletter' && !e.name.startsWith('$')) tb.wake([DEADLETTER_EVENT_TASK]);
    });
  }
  installed.set(tb, runtime);
  return runtime;
}

/** The rules installed on this Taskbus (empty when none). */
export function deadLetterRules(tb: Taskbus): readonly CompiledRule[] {
  return installed.get(tb)?.rules ?? [];
}

/** For registerServerExtension: installs the rules when the server starts. */
export function deadLetterServerExtension(ctx: { tb: Taskbus; config: TaskbusConfig }): void {
  installDeadLetters(ctx.tb, ctx.config);
}
