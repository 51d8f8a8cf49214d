/**
 * Real receivers on loopback for dead-letter actions: an HTTP server that records webhooks and
 * an SMTP server (smtp-server) that records mail. Both can start on a port chosen beforehand,
 * so a test can point a rule at them while they are still down.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { ManualClock } from '../../src/clock.ts';
import type { TaskbusConfig } from '../../src/config/config.ts';
import { installDeadLetters } from '../../src/deadletter/install.ts';
import { createTaskbus, type Taskbus } from '../../src/taskbus.ts';
import type { TaskExport } from '../../src/tasks/define.ts';
import { freePort } from '../support/process.ts';

export { freePort };

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  body: string;
}

export class WebhookReceiver {
  readonly requests: ReceivedHook[] = [];
  private server: Server | null = null;
  /** The status answered to each request. */
  status = 200;

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/taskbus`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

export class MailSink {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | null = null;

  constructor(readonly port: number) {}

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // No STARTTLS: the client would try it against a self-signed certificate.
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    if ((this.server.server.address() as AddressInfo).port !== this.port)
      throw new Error('SMTP port mismatch');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Decodes a quoted-printable plain-text mail body enough to search it. */
export function mailText(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16)));
}

/**
 * A Taskbus on SQLite (`:memory:` or a file) with dead-letter events on, the rules of `config`
 * installed and workers running on a ManualClock.
 */
export async function rulesBus(
  tasks: Record<string, TaskExport>,
  config: TaskbusConfig,
  o: { db?: string; clock?: ManualClock } = {},
) {
  const clock = o.clock ?? new ManualClock();
  const tb = await createTaskbus({
    tasks,
    db: o.db ?? ':memory:',
    deadLetterEvents: true,
    clock,
    random: () => 0.5,
    logger: pino({ level: 'silent' }),
  });
  const runtime = installDeadLetters(tb, config);
  const worker = await tb.startWorkers();
  return { tb, clock, worker, runtime };
}

/** Action retries without jitter, so the test knows when the next attempt is due. */
export const FAST_ACTIONS = {
  maxDeliveryCount: 5,
  backoff: { type: 'fixed', delayMs: 1000, jitter: false },
} as const;

/** Fails every delivery; dead-letters after one. */
export const failing = (message = 'payment gateway timed out'): TaskExport => ({
  maxDeliveryCount: 1,
  handler: async () => {
    throw new Error(message);
  },
});

export type { Taskbus };
