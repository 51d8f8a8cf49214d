import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ManualClock } from '../../src/clock.ts';
import { validateConfig } from '../../src/config/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { KeyStore } from '../../src/http/auth/keys.ts';
import { type RateLimitConfig, rateLimitConfig } from '../../src/http/ratelimit/config.ts';
import { RateLimiter } from '../../src/http/ratelimit/limiter.ts';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { createTaskbus, type Taskbus } from '../../src/taskbus.ts';
import { MASTER, testApp } from '../support/app.ts';
import { POSTGRES_URL, postgresPreflight, useSchemas } from '../support/postgres.ts';

const pgSkip = await postgresPreflight();
const dir = mkdtempSync(join(tmpdir(), 'taskbus-ratelimit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TASKS = {
  email: async () => 'sent',
  report: async () => 'ok',
  open: { handler: async () => 'ok', auth: 'anonymous' as const },
};

interface Api {
  tb: Taskbus;
  app: FastifyInstance;
  keys: KeyStore;
  clock: ManualClock;
}
const opened: Api[] = [];
afterEach(async () => {
  for (const a of opened.splice(0)) {
    await a.app.close();
    await a.tb.close(0);
  }
});

/** An API process: its own Taskbus, driver and app on the given database. */
async function api(
  config: RateLimitConfig,
  o: { db?: string; driver?: PostgresDriver; clock?: ManualClock } = {},
) {
  const clock = o.clock ?? new ManualClock();
  const tb = await createTaskbus({
    tasks: TASKS,
    db: o.db ?? ':memory:',
    driver: o.driver,
    clock,
    logger: pino({ level: 'silent' }),
  });
  const keys = new KeyStore(tb.driver, clock);
  await keys.init(MASTER);
  const rateLimiter = RateLimiter.from(validated(config), tb.driver, clock);
  const app = await buildApp({ tb, keys, rateLimiter, openapi: false });
  const a: Api = { tb, app, keys, clock };
  opened.push(a);
  return a;
}

function validated(config: RateLimitConfig): RateLimitConfig {
  return rateLimitConfig(validateConfig({ rateLimits: config }))!;
}

const post = (a: Api, name: string, key?: string, query = '') =>
  a.app.inject({
    method: 'POST',
    url: `/api/${name}${query}`,
    headers: { ...(key ? { 'x-functions-key': key } : {}), 'content-type': 'application/json' },
    payload: '{}',
  });

describe('rate limits › per key', () => {
  it('answers RateLimit headers, then 429 problem+json with Retry-After; the next window admits again', async () => {
    const a = await api({ key: { limit: 3, windowMs: 60_000 } });
    const k = (await a.keys.create({ label: 'k', scope: 'host' })).key;
    for (const left of [2, 1, 0]) {
      const r = await post(a, 'email', k);
      assert.equal(r.statusCode, 202);
      assert.equal(r.headers['ratelimit-limit'], '3');
      assert.equal(r.headers['ratelimit-remaining'], String(left));
      assert.equal(r.headers['ratelimit-reset'], '60');
      assert.equal(r.headers['ratelimit-policy'], '3;w=60');
    }
    a.clock.advance(15_000);
    const over = await post(a, 'report', k);
    assert.equal(over.statusCode, 429);
    assert.equal(over.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(over.headers['retry-after'], '45');
    assert.equal(over.headers['ratelimit-remaining'], '0');
    assert.equal(over.headers['ratelimit-reset'], '45');
    const p = over.json();
    assert.equal(p.code, 'RATE_LIMITED');
    assert.equal(p.status, 429);
    assert.equal(p.retryAfter, 45);
    assert.match(p.detail, /limit of 3 requests per 60000 ms/);
    // Nothing was stored for the refused call.
    assert.equal((await a.tb.counts(['report']))[0].queued, 0);

    a.clock.advance(45_000);
    const again = await post(a, 'email', k);
    assert.equal(again.statusCode, 202);
    assert.equal(again.headers['ratelimit-remaining'], '2');
  });

  it('counts each key on its own; status reads count too; the master key is not limited by default', async () => {
    const a = await api({ key: { limit: 2, windowMs: 1000 } });
    const k1 = (await a.keys.create({ label: 'a', scope: 'host' })).key;
    const k2 = (await a.keys.create({ label: 'b', scope: 'function', task: 'email' })).key;
    const id = (await post(a, 'email', k1)).json().id;
    const status = await a.app.inject({ method: 'GET', url: `/api/email/tasks/${id}?code=${k1}` });
    assert.equal(status.statusCode, 200);
    assert.equal(status.headers['ratelimit-remaining'], '0');
    assert.equal((await post(a, 'email', k1)).statusCode, 429);
    assert.equal((await post(a, 'email', k2)).statusCode, 202);
    for (let i = 0; i < 5; i++) {
      const r = await post(a, 'email', MASTER);
      assert.equal(r.statusCode, 202);
      assert.equal(r.headers['ratelimit-limit'], undefined);
    }
  });

  it('keys.<id> replaces the default for that key; several limits make a rate and a quota', async () => {
    const probe = await api({ key: { limit: 1, windowMs: 1000 } });
    const { key, record } = await probe.keys.create({ label: 'big', scope: 'host' });
    const a = await api(
      {
        key: { limit: 1, windowMs: 1000 },
        keys: {
          [record.id]: [
            { limit: 3, windowMs: 1000 },
            { limit: 5, windowMs: 86_400_000 },
          ],
        },
      },
      { driver: undefined, db: ':memory:' },
    );
    // The same key in this database.
    await a.tb.driver.createKey({ key: record });
    for (let i = 0; i < 3; i++) assert.equal((await post(a, 'email', key)).statusCode, 202, `call ${i}`);
    const r = await post(a, 'email', key);
    assert.equal(r.statusCode, 429);
    assert.equal(r.headers['ratelimit-policy'], '3;w=1, 5;w=86400');
    a.clock.advance(1000);
    // Every call counts, the refused one too (as API gateways count): 5 calls today so far.
    assert.equal((await post(a, 'email', key)).statusCode, 202);
    const quota = await post(a, 'email', key);
    assert.equal(quota.statusCode, 429);
    // The daily quota binds now, and Retry-After points at its end, not the next second.
    assert.equal(quota.headers['ratelimit-limit'], '5');
    assert.equal(quota.headers['retry-after'], String(86_400 - 1));
    a.clock.advance(1000);
    assert.equal((await post(a, 'email', key)).statusCode, 429);
  });
});

describe('rate limits › per task and anonymous', () => {
  it('tasks.<name> limits enqueues of that task across all callers, not its status reads', async () => {
    const a = await api({ tasks: { email: { limit: 2, windowMs: 10_000 } } });
    const k1 = (await a.keys.create({ label: 'a', scope: 'host' })).key;
    const k2 = (await a.keys.create({ label: 'b', scope: 'host' })).key;
    const id = (await post(a, 'email', k1)).json().id;
    assert.equal((await post(a, 'email', k2)).statusCode, 202);
    const r = await post(a, 'email', k2);
    assert.equal(r.statusCode, 429);
    assert.match(r.json().detail, /task 'email'/);
    assert.equal((await post(a, 'report', k2)).statusCode, 202);
    const status = await a.app.inject({ method: 'GET', url: `/api/email/tasks/${id}?code=${k1}` });
    assert.equal(status.statusCode, 200);
    // The master key is limited by task limits too: they protect what the task calls.
    assert.equal((await post(a, 'email', MASTER)).statusCode, 429);
  });

  it("per: 'key' gives each caller its own counter for that task", async () => {
    const a = await api({ tasks: { email: { limit: 1, windowMs: 10_000, per: 'key' } } });
    const k1 = (await a.keys.create({ label: 'a', scope: 'host' })).key;
    const k2 = (await a.keys.create({ label: 'b', scope: 'host' })).key;
    assert.equal((await post(a, 'email', k1)).statusCode, 202);
    assert.equal((await post(a, 'email', k1)).statusCode, 429);
    assert.equal((await post(a, 'email', k2)).statusCode, 202);
  });

  it('anonymous calls are limited per client address', async () => {
    const a = await api({ anonymous: { limit: 2, windowMs: 1000 } });
    const from = (ip: string) =>
      a.app.inject({ method: 'POST', url: '/api/open', remoteAddress: ip, payload: '' });
    assert.equal((await from('10.0.0.1')).statusCode, 202);
    assert.equal((await from('10.0.0.1')).statusCode, 202);
    assert.equal((await from('10.0.0.1')).statusCode, 429);
    assert.equal((await from('10.0.0.2')).statusCode, 202);
  });

  it('without rateLimits there is no limiter and no RateLimit header', async () => {
    assert.equal(RateLimiter.from(undefined, {} as never, new ManualClock()), undefined);
    assert.equal(RateLimiter.from({ tasks: {} }, {} as never, new ManualClock()), undefined);
    const t = await testApp({ email: async () => 1 });
    try {
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/email',
        headers: { 'x-functions-key': MASTER },
      });
      assert.equal(r.statusCode, 202);
      assert.equal(r.headers['ratelimit-limit'], undefined);
    } finally {
      await t.close();
    }
  });
});

describe('rate limits › shared by API processes on one database', () => {
  it('SQLite: two processes on one file admit the limit once between them', async () => {
    const db = join(dir, 'shared.db');
    const clock = new ManualClock();
    const a = await api({ key: { limit: 4, windowMs: 60_000 } }, { db, clock });
    const b = await api({ key: { limit: 4, windowMs: 60_000 } }, { db, clock });
    const k = (await a.keys.create({ label: 'k', scope: 'host' })).key;
    const codes = [];
    for (const x of [a, b, a, b, a, b]) codes.push((await post(x, 'email', k)).statusCode);
    assert.deepEqual(codes, [202, 202, 202, 202, 429, 429]);
  });

  describe('PostgreSQL', { skip: pgSkip }, () => {
    const schemas = useSchemas();
    it('three processes admit the limit once between them, under concurrent calls', async () => {
      const schema = schemas.create();
      const clock = new ManualClock();
      const cfg = { key: { limit: 10, windowMs: 60_000 } };
      const procs: Api[] = [];
      for (let i = 0; i < 3; i++) {
        const driver = new PostgresDriver({ connectionString: POSTGRES_URL, schema, poolSize: 4 });
        await driver.migrate();
        procs.push(await api(cfg, { driver, clock }));
      }
      const k = (await procs[0].keys.create({ label: 'k', scope: 'host' })).key;
      const codes = await Promise.all(
        Array.from({ length: 30 }, (_, i) => post(procs[i % 3], 'email', k).then((r) => r.statusCode)),
      );
      assert.equal(codes.filter((c) => c === 202).length, 10);
      assert.equal(codes.filter((c) => c === 429).length, 20);
      assert.equal((await procs[0].tb.counts(['email']))[0].queued, 10);
    });
  });
});

describe('rate limits › config', () => {
  const bad = (rateLimits: unknown, field: RegExp) =>
    assert.throws(
      () => validateConfig({ rateLimits }),
      (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && field.test(e.message),
    );
  it('names the field that is wrong', () => {
    bad({ key: { limit: 0, windowMs: 1000 } }, /rateLimits\.key\.limit/);
    bad({ key: [{ limit: 1, windowMs: 1000 }, { limit: 1 }] }, /rateLimits\.key\[1\]\.windowMs/);
    bad({ keyz: {} }, /rateLimits\.keyz/);
    bad({ tasks: { 'Bad Name': { limit: 1, windowMs: 1 } } }, /rateLimits\.tasks\.Bad Name/);
    bad({ tasks: { email: { limit: 1, windowMs: 1, per: 'ip' } } }, /rateLimits\.tasks\.email\.per/);
    bad({ anonymous: { limit: 1, windowMs: 1, per: 'key' } }, /rateLimits\.anonymous\.per/);
    assert.doesNotThrow(() =>
      validateConfig({
        rateLimits: { key: { limit: 5, windowMs: 1000 }, tasks: { email: [{ limit: 1, windowMs: 1 }] } },
      }),
    );
  });
});
