import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { ERRORS, type ErrorCode, TaskbusError } from '../errors.ts';

export const PROBLEM_BASE = 'https://taskbus.dev/errors/';

/** Sends an RFC 9457 problem document. */
export function sendProblem(reply: FastifyReply, err: TaskbusError): FastifyReply {
  const def = ERRORS[err.code];
  return reply
    .code(err.status)
    .type('application/problem+json')
    .send({
      type: `${PROBLEM_BASE}${err.code.toLowerCase().replaceAll('_', '-')}`,
      title: def.title,
      status: err.status,
      detail: err.message,
      code: err.code,
      ...err.details,
    });
}

/** Fastify's own errors, mapped to registry codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
};

/** The one place errors become HTTP answers. */
export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((error: FastifyError | TaskbusError, request, reply) => {
    if (error instanceof TaskbusError) {
      if (error.status >= 500) log.error({ err: error, url: request.url }, error.message);
      return sendProblem(reply, error);
    }
    const code = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (code) return sendProblem(reply, new TaskbusError(code, error.message));
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return sendProblem(reply, new TaskbusError('BAD_REQUEST', error.message));
    }
    log.error({ err: error, url: request.url }, 'unhandled error');
    return sendProblem(
      reply,
      new TaskbusError('INTERNAL', 'an unexpected error occurred; see the server log'),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      new TaskbusError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}
