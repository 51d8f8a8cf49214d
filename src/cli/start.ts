import type { Command } from 'commander';
import { type ServerMode, startServer } from '../server.ts';
import { fail } from './common.ts';

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`--port must be an integer from 0 to 65535, got '${v}'`);
  return n;
}

const HELP: Record<ServerMode, string> = {
  all: 'run the HTTP API, the workers and the dashboard in one process (the embedded default)',
  api: 'run only the HTTP API (scale out: many api processes share one database)',
  worker: 'run only the workers (scale out: many worker processes share one database)',
};

/** `taskbus start|api|worker`: runs until SIGINT/SIGTERM, then shuts down gracefully. */
export function registerStart(program: Command): void {
  for (const [name, mode] of [
    ['start', 'all'],
    ['api', 'api'],
    ['worker', 'worker'],
  ] as const) {
    const cmd = program
      .command(name)
      .description(HELP[mode])
      .option('--tasks <dir>', 'tasks folder (default ./tasks)')
      .option('--db <url>', 'database: SQLite file (default ./taskbus.db), :memory: or postgres:// URL')
      .option('--config <file>', 'config file (default: taskbus.config.* in the working directory)')
      .option('--grace-ms <ms>', 'on shutdown, how long running handlers may finish', '10000');
    if (mode !== 'worker') {
      cmd
        .option('--port <n>', 'HTTP port (default 7071)', parsePort)
        .option('--host <host>', 'HTTP host (default 127.0.0.1)');
    }
    cmd.action(
      async (o: {
        tasks?: string;
        db?: string;
        config?: string;
        port?: number;
        host?: string;
        graceMs: string;
      }) => {
        try {
          const server = await startServer(mode, o);
          // Worker timers do not hold the process open (they are unref'd so embedding apps can
          // exit); the command runs until a signal.
          const keepAlive = setInterval(() => {}, 1 << 30);
          let signals = 0;
          const shutdown = async (signal: string) => {
            if (++signals > 1) process.exit(130);
            server.tb.log.info({ signal }, 'shutting down: finishing running handlers');
            await server.stop(Number(o.graceMs));
            clearInterval(keepAlive);
            process.exit(0);
          };
          process.on('SIGINT', () => void shutdown('SIGINT'));
          process.on('SIGTERM', () => void shutdown('SIGTERM'));
        } catch (err) {
          fail(err);
        }
      },
    );
  }
}
