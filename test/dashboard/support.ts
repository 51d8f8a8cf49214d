import { existsSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type Browser, chromium } from 'playwright-core';
import type { DashboardOptions } from '../../src/dashboard/index.ts';
import type { Taskbus, TaskbusOptions } from '../../src/taskbus.ts';
import type { TaskExport } from '../../src/tasks/define.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { waitFor } from '../support/wait.ts';

export const MASTER = 'dashboard-master-key-0123456789';

export type DashboardApp = TestApp;

/** A Taskbus with its HTTP app (dashboard included), on SQLite :memory: unless told otherwise. */
export function dashboardApp(
  tasks: Record<string, TaskExport>,
  o: Partial<TaskbusOptions> & { dashboard?: DashboardOptions } = {},
): Promise<DashboardApp> {
  return testApp(tasks, { ...o, masterKey: MASTER, app: { dashboard: { pollMs: 200, ...o.dashboard } } });
}

const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, headless, with nothing reaching for the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Why the browser tests are skipped (Chromium missing outside CI), or false. */
export const chromiumSkip =
  !existsSync(CHROMIUM) && !process.env.CI ? 'Chromium not installed: apt-get install -y chromium' : false;

/** The value of `name="…" value="…"` or `<meta name="…" content="…">` in a page. */
export function field(html: string, name: string): string | null {
  const m =
    new RegExp(`name="${name}" value="([^"]*)"`).exec(html) ??
    new RegExp(`<meta name="${name}" content="([^"]*)"`).exec(html);
  return m ? m[1] : null;
}

export function form(fields: Record<string, string | string[]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) p.append(k, x);
  return p.toString();
}

/** A cookie-keeping client for `inject`, as a browser would be. */
export class Client {
  cookie = '';
  csrf = '';
  constructor(private readonly app: FastifyInstance) {}

  private keep(r: LightMyRequestResponse): LightMyRequestResponse {
    const set = r.headers['set-cookie'];
    for (const c of [set ?? []].flat()) {
      const [pair] = c.split(';');
      this.cookie = pair.endsWith('=') ? '' : pair;
    }
    return r;
  }

  async get(url: string, headers: Record<string, string> = {}) {
    return this.keep(await this.app.inject({ url, headers: { cookie: this.cookie, ...headers } }));
  }

  async post(url: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) {
    return this.keep(
      await this.app.inject({
        method: 'POST',
        url,
        payload: form(fields),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookie, ...headers },
      }),
    );
  }

  /** Logs in through the form, as a person would; keeps the session cookie and CSRF token. */
  async login(key = MASTER): Promise<LightMyRequestResponse> {
    const page = await this.get('/dashboard/login');
    const r = await this.post('/dashboard/login', { _csrf: field(page.body, '_csrf')!, key, next: '/' });
    if (r.statusCode === 303) this.csrf = field((await this.get('/')).body, 'csrf-token') ?? '';
    return r;
  }
}

/** Messages of `name` dead-lettered by a worker: the task must fail every time. */
export async function deadLetters(tb: Taskbus, name: string, bodies: unknown[]): Promise<string[]> {
  const ids = (await tb.enqueueMany(name, bodies)).map((r) => r.id);
  await tb.startWorkers();
  await waitFor(async () => {
    const ms = await Promise.all(ids.map((id) => tb.getTask(id)));
    return ms.every((m) => m?.state === 'deadlettered');
  }, 'dead letters');
  await tb.stopWorkers();
  return ids;
}
