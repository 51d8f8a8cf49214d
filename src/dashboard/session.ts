import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { StorageDriver } from '../storage/driver.ts';

/**
 * Dashboard sessions: a signed cookie, never the master key. The cookie holds a random session
 * id, an expiry and whether the holder logged in, with an HMAC-SHA256 over them. The HMAC
 * secret is generated once and kept in the database's settings, so every `taskbus api` process
 * sharing the database accepts the same cookies: sessions work behind a load balancer with no
 * sticky routing and no session table.
 *
 * The CSRF token is derived from the session id with the same secret: a page carries it, a
 * cross-site request cannot read it, and no server state is needed to check it.
 *
 * Logging out revokes the session id in this process's memory and clears the cookie; another
 * process would accept a copied cookie until it expires (12 h by default).
 */
export const SESSION_COOKIE = 'taskbus_session';
const SECRET_SETTING = 'dashboard_session_secret';
/** A session before login lives this long: enough to fill in the login form. */
export const ANONYMOUS_TTL_MS = 3_600_000;
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;
/** Revoked ids kept in memory at most; the oldest are dropped first (they expire anyway). */
const MAX_REVOKED = 10_000;

export interface Session {
  id: string;
  expiresAt: number;
  /** True after a login with the master key; false for the login form's own session. */
  authenticated: boolean;
}

const b64 = (b: Buffer) => b.toString('base64url');

export class Sessions {
  private secret: Promise<Buffer> | null = null;
  private readonly revoked = new Map<string, number>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly clock: Clock,
    readonly ttlMs: number = DEFAULT_SESSION_TTL_MS,
  ) {}

  /** The shared secret, created in storage by the first process that needs it. */
  private key(): Promise<Buffer> {
    this.secret ??= this.driver
      .initSetting({ key: SECRET_SETTING, value: randomBytes(32).toString('hex') })
      .then((hex) => Buffer.from(hex, 'hex'))
      .catch((err) => {
        this.secret = null;
        throw err;
      });
    return this.secret;
  }

  private async mac(text: string): Promise<string> {
    return b64(
      createHmac('sha256', await this.key())
        .update(text)
        .digest(),
    );
  }

  /** A new session and its cookie value. A login always gets a new id (no session fixation). */
  async issue(authenticated: boolean): Promise<{ session: Session; cookie: string }> {
    const session: Session = {
      id: b64(randomBytes(18)),
      expiresAt: this.clock.now() + (authenticated ? this.ttlMs : ANONYMOUS_TTL_MS),
      authenticated,
    };
    const body = `${session.id}.${session.expiresAt}.${authenticated ? 'a' : 'u'}`;
    return { session, cookie: `${body}.${await this.mac(`session.${body}`)}` };
  }

  /** The session a cookie value proves, or null when forged, expired or revoked. */
  async read(cookie: string | undefined): Promise<Session | null> {
    const parts = cookie?.split('.');
    if (parts?.length !== 4) return null;
    const [id, exp, flag, mac] = parts;
    if (!safeEqual(mac, await this.mac(`session.${id}.${exp}.${flag}`))) return null;
    const expiresAt = Number(exp);
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= this.clock.now()) return null;
    if (this.revoked.has(id)) return null;
    return { id, expiresAt, authenticated: flag === 'a' };
  }

  /** The CSRF token of a session. */
  csrfToken(session: Session): Promise<string> {
    return this.mac(`csrf.${session.id}`);
  }

  async checkCsrf(session: Session, token: string | undefined): Promise<boolean> {
    return typeof token === 'string' && safeEqual(token, await this.csrfToken(session));
  }

  revoke(session: Session): void {
    const now = this.clock.now();
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
    if (this.revoked.size >= MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value!);
    this.revoked.set(session.id, session.expiresAt);
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The Set-Cookie value for a session; Secure when the page was served over HTTPS. */
export function sessionCookie(value: string, maxAgeMs: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
