/**
 * Rate-limit counters (migration 3): one row per counter, shared by every API process, so a
 * limit holds across processes. The row lock of the upsert serialises concurrent hits on one
 * counter: N processes count into one total.
 */
import type { RateLimitHit } from '../driver.ts';
import type { Db } from './connection.ts';

/** Expired counters are swept every this many hits of a process, at most 1000 rows at a time. */
const SWEEP_EVERY = 1000;

export function rateLimitSql(s: string) {
  return {
    // $1 key, $2 window start, $3 cost, $4 window end → count, reset_at of the current window.
    // A row from an earlier window restarts at the cost; a hit stamped with an earlier window
    // than the row's (a process whose clock is behind) counts in the row's window.
    hit: `INSERT INTO ${s}.rate_limits AS r (key, window_start, count, reset_at)
  VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint)
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN r.window_start >= excluded.window_start THEN r.count + excluded.count
      ELSE excluded.count END,
    window_start = GREATEST(r.window_start, excluded.window_start),
    reset_at = GREATEST(r.reset_at, excluded.reset_at)
  RETURNING count, reset_at`,
    // $1 now → nothing. Counters whose window ended would restart at their next hit anyway.
    sweep: `DELETE FROM ${s}.rate_limits WHERE key IN
  (SELECT key FROM ${s}.rate_limits WHERE reset_at <= $1::bigint LIMIT 1000)`,
  };
}

/** Counts one hit; every SWEEP_EVERY hits, sweeps expired counters in the background. */
export function rateLimiter(db: Db, schema: string) {
  const sql = rateLimitSql(schema);
  let hits = 0;
  return async (p: RateLimitHit): Promise<{ count: number; resetAt: number }> => {
    const start = p.now - (p.now % p.windowMs);
    const r = await db.q('rateLimitHit', sql.hit, [p.key, start, p.cost ?? 1, start + p.windowMs]);
    if (++hits % SWEEP_EVERY === 0) db.q('rateLimitSweep', sql.sweep, [p.now]).catch(() => {});
    return { count: r.rows[0].count, resetAt: r.rows[0].reset_at };
  };
}
