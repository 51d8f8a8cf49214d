/**
 * Structured logs (pino): JSON lines in production, pretty output on a terminal. Every line
 * about a message carries `task`, `messageId` and `deliveryCount` (and `traceId` when the
 * message has a trace). Keys and secrets are never logged: known secret fields are censored,
 * and `?code=` is cut out of every logged URL.
 */
import type { FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import PinoPretty from 'pino-pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fields that hold secrets wherever they appear (top level or one level down). */
const SECRET_FIELDS = [
  'key',
  'masterKey',
  'apiKey',
  'password',
  'pass',
  'secret',
  'token',
  'authorization',
  'cookie',
  'x-functions-key',
];
const prop = (f: string) => (/^\w+$/.test(f) ? `.${f}` : `["${f}"]`);
export const REDACT_PATHS = [
  ...SECRET_FIELDS.map((f) => prop(f).replace(/^\./, '')),
  ...SECRET_FIELDS.map((f) => `*${prop(f)}`),
  ...SECRET_FIELDS.map((f) => `*.headers${prop(f)}`),
];

/** A URL with the value of every `code` query parameter (a key, SPEC §4) replaced by `***`. */
export function redactUrl(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  return url.replace(/([?&]code=)[^&#]*/gi, '$1***');
}

export interface LoggerSettings {
  /** Default: TASKBUS_LOG_LEVEL, else 'info'. */
  level?: string;
  /** Human-readable lines instead of JSON. Default: when stdout is a terminal and TASKBUS_LOG_JSON is unset. */
  pretty?: boolean;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
}

/** The options every Taskbus logger shares: redaction and the URL serializer. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { url: redactUrl, err: pino.stdSerializers.err },
  };
}

/** The process logger. */
export function createLogger(s: LoggerSettings = {}, env: NodeJS.ProcessEnv = process.env): Logger {
  const level = s.level ?? env.TASKBUS_LOG_LEVEL ?? 'info';
  const pretty = s.pretty ?? (!!process.stdout.isTTY && !env.TASKBUS_LOG_JSON);
  const options = loggerOptions(level);
  if (!pretty) return s.destination ? pino(options, s.destination) : pino(options);
  // In-process pretty printing: a terminal is read by a person, at a person's pace.
  return pino(
    options,
    PinoPretty({
      colorize: !s.destination && !env.NO_COLOR,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      destination: s.destination ?? 1,
      sync: true,
    }),
  );
}

/**
 * An access log line per HTTP request (opt-in: `log.requests`): method, route, URL with `?code=`
 * cut out, status and time. Never headers or bodies.
 */
export function logRequests(app: FastifyInstance, log: Logger): void {
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      route: request.routeOptions.url ?? null,
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (status >= 500) log.error(line, 'request');
    else log.info(line, 'request');
    done();
  });
}
