import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { buildApp } from '../../src/http/app.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { MASTER, type TestApp, testApp } from '../support/app.ts';

const INVOICE_SCHEMA = {
  type: 'object',
  required: ['customer', 'items'],
  properties: {
    customer: { type: 'string' },
    items: { type: 'array', items: { type: 'object', properties: { quantity: { type: 'integer' } } } },
  },
};

/**
 * Every route the app answers, read from Fastify's own route tree (independent of the OpenAPI
 * collector): `[METHOD, /path/{param}]`, HEAD left out (OpenAPI lists GET).
 */
function routesOf(tree: string): [string, string][] {
  const out: [string, string][] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*) \(([^)]*)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    const path = (depth ? stack[depth - 1] : '') + m[2];
    stack.push(path);
    for (const method of m[3].split(', ')) {
      if (method !== '-' && method !== 'HEAD') out.push([method, path.replace(/:(\w+)/g, '{$1}')]);
    }
  }
  return out;
}

describe('OpenAPI › /openapi.json and /docs', () => {
  let t: TestApp;
  let fnKey: string;
  let hostKey: string;
  before(async () => {
    t = await testApp({
      invoice: { handler: async () => 'ok', schema: INVOICE_SCHEMA, description: 'Bill a customer' },
      other: async () => 'ok',
      open: { handler: async () => 'ok', auth: 'anonymous' },
      secret: { handler: async () => 'ok', auth: 'admin' },
    });
    fnKey = (await t.keys.create({ label: 'f', scope: 'function', task: 'other' })).key;
    hostKey = (await t.keys.create({ label: 'h', scope: 'host' })).key;
  });
  after(() => t.close());

  const doc = async (key?: string, url = '/openapi.json') => {
    const r = await t.app.inject({ method: 'GET', url, headers: key ? { 'x-functions-key': key } : {} });
    assert.equal(r.statusCode, 200, r.body);
    return r.json();
  };

  it('document › is OpenAPI 3.1 with the key schemes, unique operation ids and responses everywhere', async () => {
    const d = await doc(MASTER);
    assert.equal(d.openapi, '3.1.0');
    assert.deepEqual(Object.keys(d.components.securitySchemes).sort(), ['bearer', 'code', 'functionKey']);
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries<Record<string, any>>(d.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path} has responses`);
        if (op.operationId) {
          assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
          ids.add(op.operationId);
        }
      }
    }
  });

  it('routes › every route the app serves appears (but the UI pages themselves)', async () => {
    const routes = routesOf(t.app.printRoutes({ commonPrefix: false }));
    assert.ok(routes.length > 10, `found ${routes.length} routes`);
    const d = await doc(MASTER);
    // Swagger UI's own pages and assets (/docs…) and the dashboard's HTML pages (/, /dashboard…)
    // are not API: they are hidden from the document on purpose.
    const api = routes.filter(([, p]) => p !== '/' && !p.startsWith('/docs') && !p.startsWith('/dashboard'));
    for (const [method, path] of api) {
      assert.ok(d.paths[path]?.[method.toLowerCase()], `${method} ${path} is missing from /openapi.json`);
    }
    for (const core of ['/api/{name}', '/api/{name}/tasks/{id}', '/admin/tasks', '/healthz', '/readyz']) {
      assert.ok(
        api.some(([, p]) => p === core),
        `${core} was found in the route table`,
      );
    }
  });

  it('routes › /metrics appears when metrics are on', async () => {
    const metrics = new Metrics({ tb: t.tb, defaultMetrics: false });
    const app = await buildApp({
      tb: t.tb,
      keys: t.keys,
      metrics: { metrics },
      logger: pino({ level: 'silent' }),
    });
    try {
      const d = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
      assert.equal(d.paths['/metrics'].get.tags[0], 'observability');
    } finally {
      metrics.close();
      await app.close();
    }
  });

  it("tasks › each task's enqueue carries its body schema, the same the trigger validates with", async () => {
    const d = await doc(MASTER);
    const op = d.paths['/api/invoice'].post;
    assert.deepEqual(op.requestBody.content['application/json'].schema, INVOICE_SCHEMA);
    assert.equal(op.description, 'Bill a customer');
    assert.equal(op.operationId, 'enqueue_invoice');
    assert.ok(op.responses['202'] && op.responses['422'] && op.responses['429']);
    assert.deepEqual(
      op.parameters.map((p: any) => `${p.in}:${p.name}`).sort(),
      ['idempotency-key', 'taskbus-delay-ms', 'taskbus-scheduled-for', 'taskbus-ttl-ms', 'traceparent'].map(
        (h) => `header:${h}`,
      ),
    );
    assert.ok(d.paths['/api/invoice/tasks/{id}'].get.responses['200']);
    // The validator rejects what the documented schema forbids.
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/invoice',
      headers: { 'x-functions-key': MASTER, 'content-type': 'application/json' },
      payload: '{"customer":"ada"}',
    });
    assert.equal(r.statusCode, 422);
  });

  it('names do not leak › without a key only anonymous tasks; a key shows what it opens', async () => {
    const taskPaths = (d: any) =>
      Object.keys(d.paths)
        .filter((p) => /^\/api\/[a-z]/.test(p) && !p.includes('/tasks/'))
        .sort();
    assert.deepEqual(taskPaths(await doc()), ['/api/open']);
    assert.deepEqual(taskPaths(await doc('not-a-key')), ['/api/open']);
    assert.deepEqual(taskPaths(await doc(fnKey)), ['/api/open', '/api/other']);
    assert.deepEqual(taskPaths(await doc(hostKey)), ['/api/invoice', '/api/open', '/api/other']);
    assert.deepEqual(taskPaths(await doc(MASTER)), [
      '/api/invoice',
      '/api/open',
      '/api/other',
      '/api/secret',
    ]);
    assert.deepEqual((await doc(MASTER)).paths['/api/open'].post.security, []);
  });

  it('UI › /docs serves Swagger UI, whose spec (/docs/json) follows the same key rules', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger-ui/i);
    const init = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    assert.match(init.body, /requestInterceptor/);
    assert.ok(!(await doc(undefined, '/docs/json')).paths['/api/invoice']);
    assert.ok((await doc(hostKey, '/docs/json')).paths['/api/invoice']);
  });

  it('config › openapi: false serves neither /openapi.json nor /docs', async () => {
    const app = await buildApp({ tb: t.tb, keys: t.keys, openapi: false });
    try {
      for (const url of ['/openapi.json', '/docs', '/docs/json']) {
        const r = await app.inject({ method: 'GET', url });
        assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8', url);
        assert.match(r.json().detail, /^no route GET/);
      }
    } finally {
      await app.close();
    }
  });

  it('config › openapi.public lists every task without a key', async () => {
    const app = await buildApp({ tb: t.tb, keys: t.keys, openapi: { public: true, ui: false } });
    try {
      const d = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
      assert.ok(d.paths['/api/invoice'] && d.paths['/api/secret']);
      assert.match((await app.inject({ method: 'GET', url: '/docs' })).json().detail, /^no route GET/);
    } finally {
      await app.close();
    }
  });
});
