import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { TaskbusError } from '../errors.ts';
import type { LoadedTask } from '../tasks/define.ts';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => Ajv;

/** Compiles each task's body schema once. A schema that does not compile stops the start. */
export function compileSchemas(tasks: Iterable<LoadedTask>): Map<string, ValidateFunction> {
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  const out = new Map<string, ValidateFunction>();
  for (const t of tasks) {
    if (!t.settings.schema) continue;
    try {
      out.set(t.name, ajv.compile(t.settings.schema));
    } catch (err) {
      throw new TaskbusError(
        'INVALID_TASK',
        `${t.file ?? t.name}: schema does not compile: ${(err as Error).message}`,
      );
    }
  }
  return out;
}

function pathOf(e: ErrorObject): string {
  const extra =
    e.keyword === 'required'
      ? `/${(e.params as { missingProperty: string }).missingProperty}`
      : e.keyword === 'additionalProperties'
        ? `/${(e.params as { additionalProperty: string }).additionalProperty}`
        : '';
  return `body${e.instancePath}${extra}`
    .replaceAll('/', '.')
    .replace(/^body\.?/, 'body.')
    .replace(/\.$/, '');
}

/** Throws a 422 naming each failing path (e.g. `body.items.0.quantity`). */
export function validateBody(validate: ValidateFunction, body: unknown): void {
  if (validate(body)) return;
  const errors = (validate.errors ?? []).map((e) => ({
    path: pathOf(e),
    message: e.message ?? 'is invalid',
  }));
  const detail = errors.map((e) => `${e.path} ${e.message}`).join('; ');
  throw new TaskbusError('SCHEMA_VALIDATION', detail, { details: { errors } });
}
