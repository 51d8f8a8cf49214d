import type { FastifyReply, FastifyRequest, FastifySchema, RouteShorthandOptions } from 'fastify';
import type { KeyStore } from '../http/auth/keys.ts';
import type { Taskbus } from '../taskbus.ts';
import type { Viewer } from './auth.ts';
import { publicTasks } from './data.ts';
import { type Html, html } from './html.ts';
import type { Sessions } from './session.ts';
import { plural } from './views/format.ts';
import { failed, ok, page } from './views/layout.ts';

/** What every dashboard route needs. */
export interface DashboardContext {
  tb: Taskbus;
  keys: KeyStore;
  sessions: Sessions;
  pollMs: number;
}

/** Route options that keep the dashboard's routes out of the OpenAPI document. */
export const HIDDEN: RouteShorthandOptions = { schema: { hide: true } as FastifySchema };

/**
 * Headers for every dashboard page: scripts and styles from this origin only (no inline code,
 * no eval), never framed, never cached (pages show message bodies).
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  vary: 'Cookie, HX-Request, HX-Target',
};

export function sendHtml(reply: FastifyReply, body: string | Html, status = 200): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(String(body));
}

/** A whole page with the navigation for this viewer. */
export function sendPage(
  reply: FastifyReply,
  ctx: DashboardContext,
  o: { title: string; viewer: Viewer; body: Html; current?: string; notice?: Html | null; status?: number },
): FastifyReply {
  return sendHtml(reply, page({ ...o, tasks: publicTasks(ctx.tb) }), o.status ?? 200);
}

/** Where the request is headed inside an htmx page: the id of the element being refreshed. */
export function htmxTarget(request: FastifyRequest): string | null {
  const t = request.headers['hx-target'];
  return request.headers['hx-request'] === 'true' && typeof t === 'string' ? t : null;
}

/** Sends an unauthenticated page request to the login form (htmx follows HX-Redirect). */
export function toLogin(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const next = request.url.startsWith('/dashboard/login') ? '/' : request.url;
  const url = `/dashboard/login?next=${encodeURIComponent(next)}`;
  if (request.headers['hx-request'] === 'true') {
    return reply.code(401).header('hx-redirect', url).headers(PAGE_HEADERS).send('');
  }
  return reply.code(303).header('location', url).send();
}

/** Post/redirect/get: after an action, show the page with the outcome in `done` parameters. */
export function redirectWith(reply: FastifyReply, path: string, done: Record<string, string | number>) {
  const url = new URL(path, 'http://x');
  for (const [k, v] of Object.entries(done)) url.searchParams.set(k, String(v));
  return reply
    .code(303)
    .header('location', url.pathname + url.search)
    .send();
}

const count = (v: unknown) => {
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
};

/**
 * The outcome notice an action redirected with. Only fixed sentences and numbers are rendered
 * from the URL, so a crafted link cannot put words on the page.
 */
export function doneNotice(q: Record<string, unknown>): Html | null {
  const n = count(q.n);
  switch (q.done) {
    case 'resubmitted': {
      const missing = count(q.missing);
      const miss = missing ? ` ${plural(missing, 'was', 'were')} no longer dead-lettered.` : '';
      return ok(`Resubmitted ${plural(n, 'task')}.${miss}`);
    }
    case 'edited':
      return ok('Resubmitted with the edited body.');
    case 'purged':
      return ok(`Purged ${plural(n, 'dead-lettered task')}.`);
    case 'cancelled':
      return ok('Cancelled: the task is now dead-lettered as Cancelled.');
    case 'none':
      return failed('No dead-lettered task matches this filter; nothing was resubmitted.');
    default:
      return null;
  }
}

/** An error page for a refused page request (unknown task or message, bad parameter). */
export function errorBody(title: string, detail: string): Html {
  return html`<h1>${title}</h1><p>${detail}</p><p><a href="/">Back to the overview</a></p>`;
}
