import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthLevel } from '../../core/settings.ts';
import { TaskbusError } from '../../errors.ts';
import type { KeyStore, Principal } from './keys.ts';

/**
 * The key a request presents (SPEC §4): the first present of `x-functions-key`, `?code=`,
 * `Authorization: Bearer`; surrounding white space is ignored.
 */
export function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers['x-functions-key'];
  if (typeof header === 'string' && header.trim()) return header.trim();
  const code = (request.query as Record<string, unknown> | undefined)?.code;
  if (typeof code === 'string' && code.trim()) return code.trim();
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^\s*Bearer\s+(.+?)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  return null;
}

const unauthorized = () => new TaskbusError('UNAUTHORIZED', 'a valid key is required');

/** Resolves the request's principal, or throws 401. */
export async function requirePrincipal(request: FastifyRequest, keys: KeyStore): Promise<Principal> {
  const key = presentedKey(request);
  const p = key ? await keys.authenticate(key) : null;
  if (!p) throw unauthorized();
  return p;
}

/** Whether a principal may call a task's endpoints at the task's auth level. */
export function mayCallTask(p: Principal, task: string, level: AuthLevel): boolean {
  if (p.kind === 'master') return true;
  if (level === 'admin') return false;
  return p.kind === 'host' || p.task === task;
}

/**
 * Authorizes a call to a task endpoint. An unknown task answers 401 unless the key opens every
 * task (host or master), so names do not leak; then it is 404.
 */
export async function authorizeTask(
  request: FastifyRequest,
  keys: KeyStore,
  name: string,
  level: AuthLevel | undefined,
): Promise<Principal | null> {
  if (level === 'anonymous') return null;
  const p = await requirePrincipal(request, keys);
  if (level === undefined) {
    if (p.kind === 'function') throw unauthorized();
    throw new TaskbusError('TASK_NOT_FOUND', `no task named '${name}'`);
  }
  if (!mayCallTask(p, name, level)) throw unauthorized();
  return p;
}

export async function requireMaster(request: FastifyRequest, keys: KeyStore): Promise<void> {
  const p = await requirePrincipal(request, keys);
  if (p.kind !== 'master') throw unauthorized();
}

/**
 * Every path under /admin/ (the admin and dead-letter APIs) needs the master key, checked once per
 * request before routing, so an unknown /admin/ path answers 401 before 404 and names do not
 * leak. A callback hook, not an async one: any other path goes on at once, without a promise
 * and a turn of the microtask queue.
 */
export function guardAdminPaths(app: FastifyInstance, keys: KeyStore): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (!request.url.startsWith('/admin/')) return done();
    requireMaster(request, keys).then(() => done(), done);
  });
}
