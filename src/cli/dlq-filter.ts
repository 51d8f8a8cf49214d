import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Selection } from '../deadletter/redrive.ts';
import { TaskbusError } from '../errors.ts';
import { ID_PATTERN } from '../id.ts';

/** The filter flags shared by `dlq resubmit`, `dlq purge`, `dlq export` and `dlq rules test`. */
export function filterOptions(cmd: Command): Command {
  return cmd
    .option('--reason <reason...>', 'dead-letter reason(s), e.g. MaxDeliveryCountExceeded')
    .option('--since <time>', 'dead-lettered at or after: ISO 8601, epoch ms, or ago (30m, 2h, 7d)')
    .option('--until <time>', 'dead-lettered before (same forms as --since)')
    .option('--error <regex>', 'regular expression over the last error')
    .option('--body-contains <text>', 'substring of the raw body')
    .option('--body-match <json>', 'deep partial match on the JSON body, e.g. \'{"taskType":"x"}\'')
    .option('--attempts <n>', 'number of attempts, or a range such as 2-5');
}

export interface FilterFlags {
  reason?: string[];
  since?: string;
  until?: string;
  error?: string;
  bodyContains?: string;
  bodyMatch?: string;
  attempts?: string;
}

export function parseJsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TaskbusError('BAD_REQUEST', `${flag} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The filter the flags (and an optional task name) describe; empty when none is given. */
export function filterFromFlags(name: string | undefined, o: FilterFlags): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (name) f.task = name;
  if (o.reason) f.reason = o.reason;
  if (o.since) f.since = o.since;
  if (o.until) f.until = o.until;
  if (o.error) f.error = o.error;
  if (o.bodyContains) f.bodyContains = o.bodyContains;
  if (o.bodyMatch) f.body = parseJsonFlag('--body-match', o.bodyMatch);
  if (o.attempts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(o.attempts);
    if (!m) throw new TaskbusError('BAD_REQUEST', '--attempts must be a number or a range such as 2-5');
    f.attempts = m[2] === undefined ? Number(m[1]) : { min: Number(m[1]), max: Number(m[2]) };
  }
  return f;
}

/**
 * `[name] [ids...]` plus flags → a selection. The first argument is an id when it looks like
 * one, so `dlq resubmit ID ID` works without the task name. Filter flags or --all are needed
 * to select more than listed ids; a bare task name selects its whole DLQ only when
 * `nameSelectsAll` (purge, which asks for --yes anyway).
 */
export function selectionFromArgs(
  args: string[],
  o: FilterFlags & { all?: boolean },
  nameSelectsAll = false,
): Selection {
  const [first, ...rest] = args;
  const name = first !== undefined && !ID_PATTERN.test(first) ? first : undefined;
  const ids = name === undefined ? args : rest;
  const filter = filterFromFlags(name, o);
  const flags = Object.keys(filter).filter((k) => k !== 'task').length;
  if (ids.length) {
    if (flags || o.all)
      throw new TaskbusError('BAD_REQUEST', 'give message ids, or a filter, or --all: not several');
    return { ids };
  }
  if (flags) return { filter };
  if (o.all || (name && nameSelectsAll)) return name ? { filter } : { all: true };
  throw new TaskbusError(
    'BAD_REQUEST',
    'give message ids, filter flags (--reason, --since, --error, --body-match…) or --all',
  );
}

/** Who runs the command, for history. */
export function cliActor(): Record<string, unknown> {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {}
  return { by: 'cli', user };
}
