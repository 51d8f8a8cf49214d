/**
 * OpenAPI 3.1 at `/openapi.json` and an interactive UI at `/docs`, from the ecosystem's parts:
 * @fastify/swagger collects every route as it is declared (so register this before the
 * routes), `document.ts` adds what each route means and each task's operations, and
 * @fastify/swagger-ui serves Swagger UI.
 *
 * Task names do not leak: the document lists the tasks the caller's key opens. In the UI, open
 * `/docs/?code=KEY` to see (and try) the tasks a key opens; the page sends the key as
 * `x-functions-key` with every request it makes.
 */
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { configError, registerConfigSection, type TaskbusConfig } from '../../config/config.ts';
import type { Taskbus } from '../../taskbus.ts';
import { presentedKey } from '../auth/guard.ts';
import type { KeyStore, Principal } from '../auth/keys.ts';
import { COMPONENT_SCHEMAS, documentFor, ROUTE_DOCS, SECURITY_SCHEMES } from './document.ts';

export interface OpenApiOptions {
  /** List every task's operations without a key. Default false: what the key opens. */
  public?: boolean;
  /** Serve Swagger UI at /docs. Default true. */
  ui?: boolean;
}

registerConfigSection((c) => {
  const v = c.openapi;
  if (v === undefined || v === false) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw configError('openapi', 'must be false or { public?, ui? }');
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'public' && k !== 'ui')
      throw configError(`openapi.${k}`, 'is not a setting (known: public, ui)');
    if (typeof x !== 'boolean') throw configError(`openapi.${k}`, 'must be true or false');
  }
});

/** The `openapi` section of the config: false turns /openapi.json and /docs off. */
export function openApiConfig(c: TaskbusConfig): OpenApiOptions | false {
  return (c.openapi as OpenApiOptions | false | undefined) ?? {};
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Runs in the browser: sends `?code=` of the page as the key with every request Swagger UI makes. */
function requestInterceptor(req: { headers: Record<string, string> }) {
  const code = new URLSearchParams(window.location.search).get('code');
  if (code && !req.headers['x-functions-key']) req.headers['x-functions-key'] = code;
  return req;
}
declare const window: { location: { search: string } };

async function principalOf(request: FastifyRequest, keys: KeyStore): Promise<Principal | null> {
  const key = presentedKey(request);
  return key ? keys.authenticate(key) : null;
}

/** Registers the collector, `/openapi.json` and `/docs`. Call before declaring the routes. */
export async function registerOpenApi(
  app: FastifyInstance,
  o: { tb: Taskbus; keys: KeyStore } & OpenApiOptions,
): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Taskbus',
        version: VERSION,
        description:
          'Asynchronous tasks over HTTP: `POST /api/{name}` stores a task and answers 202 at once; a worker runs it; `GET /api/{name}/tasks/{id}` shows its status and result. Errors are `application/problem+json`.',
      },
      components: { securitySchemes: SECURITY_SCHEMES as never, schemas: COMPONENT_SCHEMAS as never },
      tags: [
        { name: 'tasks', description: 'The HTTP trigger: function, host or master key' },
        { name: 'admin', description: 'Task types, messages and dead letters: master key' },
        { name: 'health', description: 'Liveness and readiness: no key' },
        { name: 'observability', description: 'Metrics and this document' },
      ],
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? route.method[0] : route.method;
      const doc = ROUTE_DOCS[`${method} ${url}`];
      return { schema: doc ? { ...doc, ...(schema ?? {}) } : schema, url };
    },
  });

  const all = o.public ?? false;
  const document = async (request: FastifyRequest) =>
    documentFor(app.swagger() as never, o.tb.tasks.values(), await principalOf(request, o.keys), all);

  app.get('/openapi.json', async (request) => document(request));

  if (o.ui ?? true) {
    // Swagger UI's transformSpecification is synchronous: resolve the key in a hook first.
    const principals = new WeakMap<FastifyRequest, Principal | null>();
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      uiConfig: { requestInterceptor, deepLinking: true } as never,
      uiHooks: {
        preHandler: async (request) => {
          principals.set(request, await principalOf(request, o.keys));
        },
      },
      transformSpecificationClone: false,
      transformSpecification: (spec, request) =>
        documentFor(spec as never, o.tb.tasks.values(), principals.get(request) ?? null, all),
    });
  }
}
