import { TaskbusError } from '../errors.ts';
import { emptyCounts } from '../storage/rows.ts';
import type { Taskbus } from '../taskbus.ts';
import type { MessageRecord, MessageState, QueueCounts } from '../types.ts';
import { bodyText } from './views/format.ts';

/** The chart covers the last hour in one-minute buckets; the last bucket is the current minute. */
export const MINUTE = 60_000;
export const CHART_BUCKETS = 60;
/**
 * Search and oldest-first look at this many messages of one state at most per request (newest
 * first, through the storage cursor), so a page answers in well under a second even on a queue
 * of millions; the page says when the look was cut short.
 */
export const SCAN_LIMIT = 5_000;
/** Resubmit by filter resubmits at most this many messages per click (the admin API's limit). */
export const FILTER_LIMIT = 10_000;
const SCAN_PAGE = 500;

export interface Series {
  completed: number[];
  failed: number[];
  deadlettered: number[];
}

export interface TaskOverview {
  name: string;
  description: string | null;
  counts: QueueCounts;
  /** How long the oldest visible, unlocked message has waited, or null. */
  oldestAgeMs: number | null;
  series: Series;
}

export interface Overview {
  now: number;
  /** Start of the first chart bucket. */
  since: number;
  tasks: TaskOverview[];
  total: Series;
}

const emptySeries = (): Series => ({
  completed: Array(CHART_BUCKETS).fill(0),
  failed: Array(CHART_BUCKETS).fill(0),
  deadlettered: Array(CHART_BUCKETS).fill(0),
});

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Public task names (internal `$…` tasks are not shown). */
export function publicTasks(tb: Taskbus): string[] {
  return [...tb.tasks.keys()].filter((n) => !n.startsWith('$')).sort();
}

/** Everything the overview shows: counts per state, oldest waiting age and the last hour. */
export async function overview(tb: Taskbus): Promise<Overview> {
  const now = tb.clock.now();
  const since = Math.floor(now / MINUTE) * MINUTE - (CHART_BUCKETS - 1) * MINUTE;
  const names = publicTasks(tb);
  const [counts, activity] = await Promise.all([
    tb.counts(names),
    tb.driver.activity({ since, bucketMs: MINUTE, now }),
  ]);
  const byName = new Map(counts.map((c) => [c.name, c]));
  const series = new Map(names.map((n) => [n, emptySeries()]));
  const total = emptySeries();
  for (const b of activity) {
    const s = series.get(b.name);
    const i = Math.floor((b.at - since) / MINUTE);
    if (!s || i < 0 || i >= CHART_BUCKETS) continue;
    for (const k of ['completed', 'failed', 'deadlettered'] as const) {
      s[k][i] += b[k];
      total[k][i] += b[k];
    }
  }
  const tasks = names.map((name) => {
    const c = byName.get(name) ?? emptyCounts(name);
    return {
      name,
      description: tb.task(name).description,
      counts: c,
      oldestAgeMs: c.oldestQueuedAt === null ? null : Math.max(0, now - c.oldestQueuedAt),
      series: series.get(name)!,
    };
  });
  return { now, since, tasks, total };
}

/** Whether a message matches a search: id prefix, or text in the body or the dead-letter reason. */
export function matches(m: MessageRecord, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  if (m.id.startsWith(needle)) return true;
  const hay = [bodyText(m.body, false), m.deadLetterReason ?? '', m.deadLetterErrorDescription ?? ''];
  return hay.some((h) => h.toLowerCase().includes(needle));
}

export interface ListQuery {
  state: MessageState;
  q: string;
  order: 'newest' | 'oldest';
  cursor: string | null;
  limit: number;
}

export interface ListPage {
  items: MessageRecord[];
  nextCursor: string | null;
  /** True when a search or oldest-first stopped after SCAN_LIMIT messages. */
  truncated: boolean;
}

/**
 * One page of a queue in one state. Newest first without a search pages through storage.
 * A search or oldest-first scans at most SCAN_LIMIT messages (newest first) and pages through
 * the matches with an offset cursor (`@N`).
 */
export async function listMessages(tb: Taskbus, name: string, q: ListQuery): Promise<ListPage> {
  if (!q.q.trim() && q.order === 'newest') {
    if (q.cursor?.startsWith('@')) throw new TaskbusError('BAD_REQUEST', 'cursor is not valid');
    const page = await tb.browse(name, q.state, { limit: q.limit, cursor: q.cursor });
    return { items: page.items, nextCursor: page.nextCursor, truncated: false };
  }
  const offset = q.cursor ? Number(q.cursor.slice(1)) : 0;
  if (q.cursor && (!q.cursor.startsWith('@') || !Number.isSafeInteger(offset) || offset < 0)) {
    throw new TaskbusError('BAD_REQUEST', 'cursor is not valid');
  }
  const { found, truncated } = await scan(tb, name, q.state, q.q, SCAN_LIMIT, SCAN_LIMIT);
  if (q.order === 'oldest') found.reverse();
  const items = found.slice(offset, offset + q.limit);
  const next = offset + q.limit < found.length ? `@${offset + q.limit}` : null;
  return { items, nextCursor: next, truncated };
}

/**
 * Walks one state newest first, at most `maxScanned` messages, collecting up to `maxFound`
 * matches of `q`. Bounded both ways whatever the queue's size.
 */
export async function scan(
  tb: Taskbus,
  name: string,
  state: MessageState,
  q: string,
  maxScanned: number,
  maxFound: number,
): Promise<{ found: MessageRecord[]; truncated: boolean }> {
  const found: MessageRecord[] = [];
  let cursor: string | null = null;
  let scanned = 0;
  while (scanned < maxScanned && found.length < maxFound) {
    const page = await tb.browse(name, state, { limit: Math.min(SCAN_PAGE, maxScanned - scanned), cursor });
    scanned += page.items.length;
    for (const m of page.items) if (found.length < maxFound && matches(m, q)) found.push(m);
    cursor = page.nextCursor;
    if (!cursor) return { found, truncated: false };
  }
  return { found, truncated: true };
}
