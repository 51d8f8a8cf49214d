import type { FastifyInstance } from 'fastify';
import type { KeyStore } from '../http/auth/keys.ts';
import type { Taskbus } from '../taskbus.ts';
import { actionRoutes } from './actions.ts';
import { assetRoutes } from './assets.ts';
import { loginRoutes } from './login.ts';
import { pageRoutes } from './pages.ts';
import { DEFAULT_SESSION_TTL_MS, Sessions } from './session.ts';

export interface DashboardOptions {
  /** How often live parts of a page (overview, state counts, a running task) refresh. Default 2000 ms. */
  pollMs?: number;
  /** How long a login lasts. Default 12 h. */
  sessionTtlMs?: number;
}

/**
 * The web dashboard, served at `/` by the process that serves the API: server-rendered pages,
 * htmx for live updates and actions, login with the master key. See docs/dashboard.md.
 */
export function dashboardRoutes(
  app: FastifyInstance,
  deps: { tb: Taskbus; keys: KeyStore } & DashboardOptions,
): void {
  const ctx = {
    tb: deps.tb,
    keys: deps.keys,
    sessions: new Sessions(deps.tb.driver, deps.tb.clock, deps.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS),
    pollMs: Math.max(100, deps.pollMs ?? 2000),
  };
  assetRoutes(app);
  loginRoutes(app, ctx);
  pageRoutes(app, ctx);
  actionRoutes(app, ctx);
}
