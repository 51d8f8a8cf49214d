import type Database from 'better-sqlite3';
import type { RateLimitHit } from '../driver.ts';

/** Expired counters are swept every this many hits, at most SWEEP_LIMIT rows at a time. */
const SWEEP_EVERY = 1000;
const SWEEP_LIMIT = 1000;

/**
 * Rate-limit counters (migration 3). Parameters: key, window start, cost, window end.
 * Result: the count in the current window and its end. A row from an earlier window restarts
 * at `cost`; a hit stamped with an earlier window than the row's (a process whose clock is
 * behind) counts in the row's window rather than resetting it.
 */
const HIT = `INSERT INTO rate_limits (key, window_start, count, reset_at) VALUES (?, ?, ?, ?)
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_limits.window_start >= excluded.window_start
      THEN rate_limits.count + excluded.count ELSE excluded.count END,
    window_start = max(rate_limits.window_start, excluded.window_start),
    reset_at = max(rate_limits.reset_at, excluded.reset_at)
  RETURNING count, reset_at`;

/** Deletes counters whose window ended (they would restart at the next hit anyway). */
const SWEEP = `DELETE FROM rate_limits WHERE key IN
  (SELECT key FROM rate_limits WHERE reset_at <= ? LIMIT ${SWEEP_LIMIT})`;

export function rateLimitStatements(db: Database.Database) {
  const hit = db.prepare(HIT);
  const sweep = db.prepare(SWEEP);
  let hits = 0;
  return (p: RateLimitHit): { count: number; resetAt: number } => {
    const start = p.now - (p.now % p.windowMs);
    const row = hit.get(p.key, start, p.cost ?? 1, start + p.windowMs) as { count: number; reset_at: number };
    if (++hits % SWEEP_EVERY === 0) sweep.run(p.now);
    return { count: row.count, resetAt: row.reset_at };
  };
}
