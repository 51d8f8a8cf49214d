/**
 * The `log` and `metrics` sections of `taskbus.config.*`, validated when the config loads.
 *
 * ```ts
 * export default defineConfig({
 *   log: { level: 'info', requests: true },
 *   metrics: { public: false, port: 9464 },
 * });
 * ```
 */
import { configError, registerConfigSection, type TaskbusConfig } from '../config/config.ts';
import { LOG_LEVELS, type LogLevel } from './logging.ts';

export interface LogConfig {
  /** Default 'info'; TASKBUS_LOG_LEVEL overrides. */
  level?: LogLevel;
  /** One access-log line per HTTP request (URL with `?code=` removed). Default false. */
  requests?: boolean;
  /** 'json', 'pretty', or 'auto' (default: pretty on a terminal, JSON otherwise). */
  format?: 'json' | 'pretty' | 'auto';
}

export interface MetricsConfig {
  /** Serve `/metrics`. Default true. */
  enabled?: boolean;
  /** Serve `/metrics` without a key. Default false: a host or master key is required. */
  public?: boolean;
  /**
   * A listener for `/metrics` alone on this port, in every process: how `taskbus worker` (no
   * HTTP API) is scraped. `start` and `api` also serve `/metrics` on the API port.
   */
  port?: number;
  /** Node.js process metrics (CPU, memory, event-loop lag, GC). Default true. */
  process?: boolean;
}

function object(c: TaskbusConfig, field: string): Record<string, unknown> | undefined {
  const v = c[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError(field, 'must be an object');
  return v as Record<string, unknown>;
}

function only(o: Record<string, unknown>, field: string, keys: string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw configError(`${field}.${k}`, `is not a setting (known: ${keys.join(', ')})`);
  }
}

function bool(o: Record<string, unknown>, field: string, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== 'boolean')
    throw configError(`${field}.${key}`, 'must be true or false');
}

export function validateObservabilityConfig(c: TaskbusConfig): void {
  const log = object(c, 'log');
  if (log) {
    only(log, 'log', ['level', 'requests', 'format']);
    if (log.level !== undefined && !LOG_LEVELS.includes(log.level as LogLevel))
      throw configError('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);
    bool(log, 'log', 'requests');
    if (log.format !== undefined && !['json', 'pretty', 'auto'].includes(log.format as string))
      throw configError('log.format', "must be 'json', 'pretty' or 'auto'");
  }
  const m = object(c, 'metrics');
  if (m) {
    only(m, 'metrics', ['enabled', 'public', 'port', 'process']);
    bool(m, 'metrics', 'enabled');
    bool(m, 'metrics', 'public');
    bool(m, 'metrics', 'process');
    const p = m.port;
    if (p !== undefined && (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535))
      throw configError('metrics.port', 'must be an integer from 0 to 65535');
  }
}

registerConfigSection(validateObservabilityConfig);

export function logConfig(c: TaskbusConfig): LogConfig {
  return (c.log as LogConfig | undefined) ?? {};
}

export function metricsConfig(c: TaskbusConfig): MetricsConfig {
  return (c.metrics as MetricsConfig | undefined) ?? {};
}
