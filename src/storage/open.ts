import { TaskbusError } from '../errors.ts';
import type { DriverOptions, StorageDriver } from './driver.ts';
import { SqliteDriver } from './sqlite/driver.ts';

export interface OpenOptions extends DriverOptions {
  /** SQLite only: 'NORMAL' (default) or 'FULL'. */
  synchronous?: 'NORMAL' | 'FULL';
  /** PostgreSQL only: the schema to use (default 'taskbus'). */
  schema?: string;
  /** PostgreSQL only: pool size. */
  poolSize?: number;
}

/**
 * Opens the driver a database URL names (SPEC §4): a file path, `file:` URL or `:memory:` for
 * SQLite; `postgres://` or `postgresql://` for PostgreSQL. Does not migrate.
 */
export async function openDriver(url: string, options: OpenOptions = {}): Promise<StorageDriver> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    let mod: { PostgresDriver: new (o: any) => StorageDriver };
    try {
      mod = await import('./postgres/driver.ts');
    } catch (err) {
      throw new TaskbusError(
        'INVALID_CONFIG',
        `the PostgreSQL driver failed to load: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return new mod.PostgresDriver({ connectionString: url, ...options });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('file:')) {
    throw new TaskbusError(
      'INVALID_CONFIG',
      `unsupported database URL '${url}': use a file path, file: URL, :memory: or postgres://`,
    );
  }
  const filename = url.startsWith('file://')
    ? decodeURIComponent(new URL(url).pathname)
    : url.startsWith('file:')
      ? url.slice('file:'.length)
      : url;
  return new SqliteDriver({ filename, ...options });
}
