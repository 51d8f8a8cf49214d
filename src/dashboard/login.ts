import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TaskbusError } from '../errors.ts';
import {
  cookieSession,
  currentViewer,
  formFields,
  localPath,
  presentedCsrf,
  requireAction,
  setSession,
} from './auth.ts';
import { type DashboardContext, HIDDEN, sendHtml } from './reply.ts';
import { ANONYMOUS_TTL_MS } from './session.ts';
import { page } from './views/layout.ts';
import { loginBody } from './views/login.ts';

/**
 * Failed logins allowed per minute per process. A generated master key (192 random bits) cannot
 * be guessed anyway; this slows down guessing a weak TASKBUS_MASTER_KEY.
 */
const MAX_FAILURES_PER_MINUTE = 10;

/** Login with the master key, and logout. */
export function loginRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  const failures: number[] = [];
  const now = () => ctx.tb.clock.now();

  /** The login form with a fresh (or still young) pre-login session carrying its CSRF token. */
  const form = async (
    request: FastifyRequest,
    reply: FastifyReply,
    next: string,
    error?: string,
    status = 200,
  ) => {
    let session = await cookieSession(request, ctx.sessions);
    let cookie: string | null = null;
    if (!session || session.authenticated || session.expiresAt - now() < ANONYMOUS_TTL_MS / 2) {
      ({ session, cookie } = await ctx.sessions.issue(false));
    }
    if (cookie) setSession(request, reply, cookie, session, now());
    const csrf = await ctx.sessions.csrfToken(session);
    return sendHtml(
      reply,
      page({ title: 'Log in', viewer: null, body: loginBody({ csrf, next, error }) }),
      status,
    );
  };

  app.get<{ Querystring: { next?: string } }>('/dashboard/login', HIDDEN, async (request, reply) => {
    const next = localPath(request.query.next);
    if (await currentViewer(request, ctx)) return reply.code(303).header('location', next).send();
    return form(request, reply, next);
  });

  app.post('/dashboard/login', HIDDEN, async (request, reply) => {
    const fields = formFields(request);
    const next = localPath(fields.get('next'));
    const session = await cookieSession(request, ctx.sessions);
    if (!session) {
      return form(request, reply, next, 'The login form expired (or cookies are blocked). Try again.', 403);
    }
    if (!(await ctx.sessions.checkCsrf(session, presentedCsrf(request, fields)))) {
      throw new TaskbusError('FORBIDDEN', 'the CSRF token is missing or wrong: reload the login page');
    }
    const t = now();
    while (failures.length && failures[0] <= t - 60_000) failures.shift();
    if (failures.length >= MAX_FAILURES_PER_MINUTE) {
      return form(request, reply, next, 'Too many failed logins. Wait a minute and try again.', 429);
    }
    const key = (fields.get('key') ?? '').trim();
    const principal = key ? await ctx.keys.authenticate(key) : null;
    if (principal?.kind !== 'master') {
      failures.push(t);
      return form(request, reply, next, 'That is not the master key.', 401);
    }
    const fresh = await ctx.sessions.issue(true);
    setSession(request, reply, fresh.cookie, fresh.session, t);
    ctx.tb.log.info('dashboard: login');
    return reply.code(303).header('location', next).send();
  });

  app.post('/dashboard/logout', HIDDEN, async (request, reply) => {
    const { viewer } = await requireAction(request, ctx);
    if (viewer.session) ctx.sessions.revoke(viewer.session);
    setSession(request, reply, null, null, now());
    return reply.code(303).header('location', '/dashboard/login').send();
  });
}
