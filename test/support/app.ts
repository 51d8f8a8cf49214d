import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type AppOptions, buildApp } from '../../src/http/app.ts';
import { KeyStore } from '../../src/http/auth/keys.ts';
import { createTaskbus, type Taskbus, type TaskbusOptions } from '../../src/taskbus.ts';
import type { TaskExport } from '../../src/tasks/define.ts';

export const MASTER = 'test-master-key-0123456789';

export interface TestApp {
  tb: Taskbus;
  app: FastifyInstance;
  keys: KeyStore;
  close(): Promise<void>;
}

/** A Taskbus on SQLite :memory: with its HTTP app (never listening), for inject tests. */
export async function testApp(
  tasks: Record<string, TaskExport>,
  o: Partial<TaskbusOptions> & {
    bodyLimit?: number;
    masterKey?: string;
    app?: Partial<Omit<AppOptions, 'tb' | 'keys'>>;
  } = {},
): Promise<TestApp> {
  const tb = await createTaskbus({ tasks, db: ':memory:', logger: pino({ level: 'silent' }), ...o });
  const keys = new KeyStore(tb.driver, tb.clock);
  await keys.init(o.masterKey ?? MASTER);
  const app = await buildApp({ tb, keys, bodyLimit: o.bodyLimit, ...o.app });
  return {
    tb,
    app,
    keys,
    close: async () => {
      await app.close();
      await tb.close(100);
    },
  };
}
