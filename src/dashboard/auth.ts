import type { FastifyReply, FastifyRequest } from 'fastify';
import { TaskbusError } from '../errors.ts';
import { presentedKey } from '../http/auth/guard.ts';
import type { KeyStore } from '../http/auth/keys.ts';
import { readCookie, SESSION_COOKIE, type Session, type Sessions, sessionCookie } from './session.ts';

/** Who is looking at the dashboard: a logged-in session, or a request carrying the master key. */
export interface Viewer {
  via: 'session' | 'key';
  session: Session | null;
  /** The token forms and htmx send back; null for key-authenticated requests (no cookie). */
  csrf: string | null;
}

export interface AuthDeps {
  sessions: Sessions;
  keys: KeyStore;
}

export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/** The session cookie's session (authenticated or not), or null. */
export function cookieSession(request: FastifyRequest, sessions: Sessions): Promise<Session | null> {
  return sessions.read(readCookie(request.headers.cookie, SESSION_COOKIE));
}

/**
 * The viewer, or null. A presented key must be the master key (as for the admin API); without
 * one, the session cookie must come from a login.
 */
export async function currentViewer(request: FastifyRequest, deps: AuthDeps): Promise<Viewer | null> {
  const key = presentedKey(request);
  if (key) {
    const p = await deps.keys.authenticate(key);
    return p?.kind === 'master' ? { via: 'key', session: null, csrf: null } : null;
  }
  const session = await cookieSession(request, deps.sessions);
  if (!session?.authenticated) return null;
  return { via: 'session', session, csrf: await deps.sessions.csrfToken(session) };
}

/** The fields of a url-encoded form body (what browsers and htmx send). */
export function formFields(request: FastifyRequest): URLSearchParams {
  const raw = request.body as Buffer | undefined;
  const type = request.headers['content-type'] ?? '';
  if (!raw?.length) return new URLSearchParams();
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new TaskbusError('BAD_REQUEST', 'send the form as application/x-www-form-urlencoded');
  }
  return new URLSearchParams(raw.toString('utf8'));
}

/** The CSRF token a request carries: the htmx header first, else the form's hidden field. */
export function presentedCsrf(request: FastifyRequest, form: URLSearchParams): string | undefined {
  const h = request.headers[CSRF_HEADER];
  if (typeof h === 'string' && h) return h;
  return form.get(CSRF_FIELD) ?? undefined;
}

/**
 * Guards every dashboard action (POST): 401 without a viewer, 403 when a cookie session sends no
 * valid CSRF token. A request authenticated by the master key in a header needs no token: no
 * browser attaches that key to a cross-site request on its own.
 */
export async function requireAction(
  request: FastifyRequest,
  deps: AuthDeps,
): Promise<{ viewer: Viewer; form: URLSearchParams }> {
  const viewer = await currentViewer(request, deps);
  if (!viewer) throw new TaskbusError('UNAUTHORIZED', 'log in to the dashboard or send the master key');
  const form = formFields(request);
  if (
    viewer.via === 'session' &&
    !(await deps.sessions.checkCsrf(viewer.session!, presentedCsrf(request, form)))
  ) {
    throw new TaskbusError('FORBIDDEN', 'the CSRF token is missing or wrong: reload the page and try again');
  }
  return { viewer, form };
}

/** Sets the session cookie on a reply. */
export function setSession(
  request: FastifyRequest,
  reply: FastifyReply,
  cookie: string | null,
  session: Session | null,
  now: number,
): void {
  const secure = request.protocol === 'https';
  reply.header(
    'set-cookie',
    cookie && session ? sessionCookie(cookie, session.expiresAt - now, secure) : sessionCookie('', 0, secure),
  );
}

/** A safe place to return to after login: a path on this site, never another origin. */
export function localPath(next: string | null | undefined): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/';
  return next;
}
