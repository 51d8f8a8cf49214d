/**
 * Connection plumbing for the PostgreSQL driver: configuration (schema from options or the URL),
 * type parsing, and the mapping of pg errors to registry errors. No SQL here.
 */
import pg from 'pg';
import { TaskbusError } from '../../errors.ts';

/**
 * The driver's connection pool: runs statements and transactions, turns every pg error into a
 * registry error, and discards connections that failed instead of reusing them.
 */
export class Db {
  readonly pool: pg.Pool;

  constructor(config: pg.ClientConfig, size: number) {
    this.pool = new pg.Pool({ ...config, max: size, idleTimeoutMillis: 30_000 });
    // An idle pooled connection that dies (server restart, pg_terminate_backend) is dropped by
    // the pool and replaced on next use; without a listener the error would crash the process.
    this.pool.on('error', () => {});
  }

  /**
   * Runs one statement. On the pool and our own transactions it is a named prepared statement
   * (parsed and planned once per connection); on an application's client (`external`) it is
   * unnamed, so two drivers on different schemas can share that client.
   */
  async q(key: string, text: string, values: unknown[], on?: Queryable, external = false) {
    try {
      return await (on ?? this.pool).query(
        external ? { text, values } : { name: `taskbus_${key}`, text, values },
      );
    } catch (err) {
      throw storageError(err);
    }
  }

  /**
   * Runs one pooled prepared statement whose rows come back as arrays of values: no object is
   * built per row, which is what the receive of a busy worker parses most.
   */
  async arrays(key: string, text: string, values: unknown[]): Promise<unknown[][]> {
    try {
      const r = await this.pool.query({ name: `taskbus_${key}`, text, values, rowMode: 'array' });
      return r.rows as unknown[][];
    } catch (err) {
      throw storageError(err);
    }
  }

  /** BEGIN … COMMIT on one pooled connection; a connection that failed is discarded. */
  async tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageError(err);
    }
    let broken: Error | undefined;
    // A checked-out client has no pool listener: a connection lost between two statements
    // would otherwise be an unhandled 'error' event, which ends the process.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      if (isConnectionError(cause)) broken = cause as Error;
      else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw storageError(err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/** What the driver needs of a pg client, pool or application transaction. */
export interface Queryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{
    rows: any[];
    rowCount: number | null;
  }>;
}

/** A schema name we can put in SQL and in a notification channel (63 bytes at most, with a suffix). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;
/** Query parameters of the URL that are Taskbus', not libpq's: removed before pg parses the URL. */
const OWN_PARAMS = ['schema', 'pool_size'];

/**
 * The schema, pool size and the connection string pg should see. Options win; else the URL's
 * `schema` and `pool_size` query parameters (so `--db 'postgres://…/app?schema=jobs&pool_size=4'`
 * works from the CLI and TASKBUS_DATABASE_URL); else 'taskbus' and 10.
 */
export function resolveUrl(
  connectionString: string,
  options: { schema?: string; poolSize?: number } = {},
): { schema: string; poolSize: number; url: string } {
  let url = connectionString;
  let params = new URLSearchParams();
  const q = connectionString.indexOf('?');
  if (q >= 0) {
    params = new URLSearchParams(connectionString.slice(q + 1));
    // Rebuilt from the raw text: re-serialising would re-encode the other parameters.
    const rest = connectionString
      .slice(q + 1)
      .split('&')
      .filter((kv) => !OWN_PARAMS.includes(decodeURIComponent(kv.split('=')[0])));
    url = connectionString.slice(0, q) + (rest.length ? `?${rest.join('&')}` : '');
  }
  const schema = options.schema ?? params.get('schema') ?? 'taskbus';
  if (!SCHEMA_NAME.test(schema)) {
    throw new TaskbusError(
      'INVALID_CONFIG',
      `PostgreSQL schema '${schema}' is not valid: use lower-case letters, digits and _ (at most 48)`,
    );
  }
  const poolSize = options.poolSize ?? Number(params.get('pool_size') ?? 10);
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
    throw new TaskbusError('INVALID_CONFIG', `PostgreSQL pool size must be an integer from 1 to 1000`);
  }
  return { schema, poolSize, url };
}

/**
 * bigint (int8) columns and count(*) arrive as numbers: every time is epoch ms, far below 2^53,
 * and counts are too. pg's default is a string.
 */
export const typeParsers = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? (v: string) => Number(v)
      : (pg.types.getTypeParser as any)(oid, format)) as any,
};

/** Base configuration for every connection the driver opens. */
export function clientConfig(url: string): pg.ClientConfig {
  return {
    connectionString: url,
    // The URL may override it; it lets an operator tell Taskbus sessions apart in pg_stat_activity.
    application_name: 'taskbus',
    types: typeParsers,
    // Fail a connect after 10 s instead of hanging while the server is down.
    connectionTimeoutMillis: 10_000,
    // A peer that vanished (failover, cable) is noticed by TCP keepalive, not only on next use.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** SQLSTATE classes and socket errors meaning "the database is not reachable right now". */
const UNAVAILABLE_STATES = /^(08|53|57P0[1-4]|40001|40P01)/;
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Cannot use a pool after calling end|Client was closed|not queryable/i;

/** True when the error means the connection (or the server) went away: retry later. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_STATES.test(code) || SOCKET_CODES.has(code)) return true;
  return typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message);
}

/**
 * Registry errors for anything pg throws: STORAGE_UNAVAILABLE when the database cannot be
 * reached (nothing was stored, retry later), INTERNAL for a statement that failed (a bug or a
 * constraint, with the SQLSTATE in the message).
 */
export function storageError(err: unknown): TaskbusError {
  if (err instanceof TaskbusError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (isConnectionError(err)) {
    return new TaskbusError('STORAGE_UNAVAILABLE', `PostgreSQL is unavailable: ${message}`, { cause: err });
  }
  const code = (err as { code?: string })?.code;
  return new TaskbusError('INTERNAL', `PostgreSQL statement failed: ${message}${code ? ` (${code})` : ''}`, {
    cause: err,
  });
}

/** Accepts a pg Client or PoolClient (inside the application's BEGIN), never a Pool. */
export function asClient(t: unknown): Queryable {
  const c = t as { query?: unknown; totalCount?: unknown };
  if (!c || typeof c.query !== 'function') {
    throw new TaskbusError('BAD_REQUEST', 'transaction must be a pg Client or PoolClient');
  }
  if (typeof c.totalCount === 'number') {
    throw new TaskbusError(
      'BAD_REQUEST',
      'transaction must be a client checked out of the pool (pool.connect()), inside BEGIN, not the pool',
    );
  }
  return t as Queryable;
}
