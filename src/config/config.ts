import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TaskbusError } from '../errors.ts';
import { importDefault } from '../tasks/import.ts';

/**
 * Settings that are not per task, from `taskbus.config.{ts,mjs,js,json}` (or `--config`).
 * Flags and environment variables override the file. Sections other modules own (rules,
 * smtp, rate limits) are validated by those modules through `sections`.
 */
export interface TaskbusConfig {
  /** Database URL: SQLite file path (default ./taskbus.db), `:memory:` or `postgres://…`. */
  db?: string;
  /** The tasks folder (default ./tasks). */
  tasks?: string;
  port?: number;
  host?: string;
  /** Request body limit in bytes (default 262144). */
  bodyLimit?: number;
  /** SQLite durability: 'NORMAL' (default) or 'FULL'. */
  synchronous?: 'NORMAL' | 'FULL';
  /** Completed tasks are kept this long (default 7 days). */
  retentionMs?: number;
  /** Other sections, validated by their owners. */
  [section: string]: unknown;
}

/** Identity, for types: `export default defineConfig({ … })`. */
export function defineConfig<T extends TaskbusConfig>(config: T): T {
  return config;
}

export const CONFIG_FILES = [
  'taskbus.config.ts',
  'taskbus.config.mts',
  'taskbus.config.mjs',
  'taskbus.config.js',
  'taskbus.config.json',
];

export function configError(field: string, problem: string): TaskbusError {
  return new TaskbusError('INVALID_CONFIG', `config ${field}: ${problem}`, { details: { field } });
}

/** Section validators: each checks its part of the config and throws configError naming the field. */
export type SectionValidator = (config: TaskbusConfig) => void;
const sections: SectionValidator[] = [];
export function registerConfigSection(v: SectionValidator): void {
  sections.push(v);
}

function optionalInt(c: TaskbusConfig, field: string, min: number, max: number): void {
  const v = c[field];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw configError(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
}

function optionalString(c: TaskbusConfig, field: string): void {
  const v = c[field];
  if (v !== undefined && (typeof v !== 'string' || !v.trim()))
    throw configError(field, 'must be a non-empty string');
}

export function validateConfig(c: TaskbusConfig): TaskbusConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c))
    throw configError('(root)', 'must be an object');
  optionalString(c, 'db');
  optionalString(c, 'tasks');
  optionalString(c, 'host');
  optionalInt(c, 'port', 0, 65535);
  optionalInt(c, 'bodyLimit', 1, 64 * 1024 * 1024);
  optionalInt(c, 'retentionMs', 1000, 3650 * 86_400_000);
  if (c.synchronous !== undefined && c.synchronous !== 'NORMAL' && c.synchronous !== 'FULL') {
    throw configError('synchronous', "must be 'NORMAL' or 'FULL'");
  }
  for (const v of sections) v(c);
  return c;
}

/**
 * Loads the config file: `explicit` (from --config) must exist; otherwise the first of
 * CONFIG_FILES in `cwd`, or an empty config.
 */
export async function loadConfigFile(
  cwd: string,
  explicit?: string,
): Promise<{ config: TaskbusConfig; file: string | null }> {
  const file = explicit
    ? resolve(cwd, explicit)
    : CONFIG_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (!file) return { config: {}, file: null };
  if (!existsSync(file)) throw new TaskbusError('INVALID_CONFIG', `config file ${file} does not exist`);
  let raw: unknown;
  try {
    if (file.endsWith('.json')) {
      const { readFile } = await import('node:fs/promises');
      raw = JSON.parse(await readFile(file, 'utf8'));
    } else {
      raw = await importDefault(file);
    }
  } catch (err) {
    throw new TaskbusError('INVALID_CONFIG', `${file}: failed to load: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return { config: validateConfig((raw ?? {}) as TaskbusConfig), file };
  } catch (err) {
    throw new TaskbusError('INVALID_CONFIG', `${file}: ${(err as Error).message}`, { cause: err });
  }
}
