/**
 * PostgreSQL for tests: the server URL, a preflight that says what to start when the server is
 * down, and a fresh schema per test, dropped after a passing test and kept (its name printed)
 * after a failing one so you can look inside with psql.
 */
import { randomBytes } from 'node:crypto';
import { after, afterEach } from 'node:test';
import pg from 'pg';

export const POSTGRES_URL =
  process.env.TASKBUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const START_HINT = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

let preflight: Promise<string | false> | undefined;

/**
 * Resolves false when PostgreSQL answers, or to a skip message when it does not. Under CI=true
 * an unreachable server fails the run instead: a CI that silently skips proves nothing.
 * Use: `describe('…', { skip: await postgresPreflight() }, …)`.
 */
export function postgresPreflight(): Promise<string | false> {
  preflight ??= (async () => {
    const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('SELECT 1');
      return false as const;
    } catch (err) {
      const message =
        `PostgreSQL is not reachable at ${POSTGRES_URL} (${(err as Error).message}). ` +
        `Start it with: ${START_HINT} (or set TASKBUS_TEST_POSTGRES_URL)`;
      if (process.env.CI === 'true') throw new Error(message);
      return `skipped: ${message}`;
    } finally {
      await c.end().catch(() => {});
    }
  })();
  return preflight;
}

let admin: pg.Pool | undefined;

/** Runs SQL as the test administrator (outside any driver), e.g. to inspect or sabotage. */
export async function adminQuery<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []) {
  if (!admin) {
    admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2, application_name: 'taskbus-test-admin' });
    admin.on('error', () => {});
    after(async () => {
      const a = admin;
      admin = undefined;
      await a?.end();
    });
  }
  return admin.query<R>(text, values);
}

/** A random schema name, unique across test files running in parallel. */
export function schemaName(): string {
  return `tb_test_${randomBytes(6).toString('hex')}`;
}

/** The test URL with extra query parameters (schema, application_name…). */
export function postgresUrl(params: Record<string, string> = {}): string {
  const u = new URL(POSTGRES_URL);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Call inside a describe: `create()` names a fresh schema for the running test (the driver
 * creates it on migrate). After each test its schemas are dropped if it passed, kept and printed
 * if it failed.
 */
export function useSchemas(): { create(): string } {
  let created: string[] = [];
  afterEach(async (t) => {
    const names = created;
    created = [];
    if (t.passed) {
      for (const n of names) await adminQuery(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(n)} CASCADE`);
    } else {
      for (const n of names)
        process.stderr.write(`# kept PostgreSQL schema ${n} of failed test '${t.name}'\n`);
    }
  });
  return {
    create() {
      const n = schemaName();
      created.push(n);
      return n;
    },
  };
}

/** Terminates every server connection whose application_name is `name`; returns how many. */
export async function terminateBackends(name: string): Promise<number> {
  const r = await adminQuery<{ ok: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  return r.rows.filter((x) => x.ok).length;
}

/** Polls `check` every `everyMs` until it returns true, for at most `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
