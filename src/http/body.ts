import type { FastifyRequest } from 'fastify';
import { TaskbusError } from '../errors.ts';

export type RequestBody =
  | { kind: 'json'; value: unknown }
  | { kind: 'bytes'; value: Buffer; contentType: string };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_TYPE.test(contentType);
}

/**
 * The request body as SPEC §4 defines it: JSON types are parsed, anything else is kept as bytes
 * with its content type, an empty body is null. The raw bytes arrive from the catch-all
 * content-type parser, which enforces the size limit as they stream in.
 */
export function readBody(request: FastifyRequest): RequestBody {
  const raw = request.body as Buffer | undefined;
  if (!raw || raw.length === 0) return { kind: 'json', value: null };
  const type = request.headers['content-type'];
  if (isJsonType(type)) {
    try {
      return { kind: 'json', value: JSON.parse(raw.toString('utf8')) };
    } catch (err) {
      throw new TaskbusError('MALFORMED_JSON', `the body is not valid JSON: ${(err as Error).message}`);
    }
  }
  return { kind: 'bytes', value: raw, contentType: type ?? 'application/octet-stream' };
}

/** A JSON body for admin routes: an object, or an empty body as {}. */
export function readJsonObject(request: FastifyRequest): Record<string, unknown> {
  const b = readBody(request);
  if (b.kind === 'bytes')
    throw new TaskbusError('BAD_REQUEST', 'send a JSON body (content-type: application/json)');
  if (b.value === null) return {};
  if (typeof b.value !== 'object' || Array.isArray(b.value))
    throw new TaskbusError('BAD_REQUEST', 'the body must be a JSON object');
  return b.value as Record<string, unknown>;
}
