import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

export const BIN = join(import.meta.dirname, '../../bin/taskbus.mjs');
/** Tests always run the source, never a possibly stale build. */
export const CLI_ENV = { ...process.env, TASKBUS_FROM_SOURCE: '1', TASKBUS_LOG_LEVEL: 'warn', NO_COLOR: '1' };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs the real taskbus binary to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...CLI_ENV, ...opts.env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Waits for a clean exit after SIGTERM. */
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Starts `taskbus <mode>` as a child process and waits for /readyz (or, for workers, a log line). */
export async function startProcess(
  mode: 'start' | 'api' | 'worker',
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; port?: number } = {},
): Promise<ServerProcess> {
  const port = opts.port ?? (mode === 'worker' ? 0 : await freePort());
  const full = mode === 'worker' ? args : [...args, '--port', String(port)];
  const child = spawn(process.execPath, [BIN, mode, ...full], {
    cwd: opts.cwd,
    env: { ...CLI_ENV, TASKBUS_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => {
    out += c;
  });
  child.stderr!.on('data', (c) => {
    out += c;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`taskbus ${mode} exited: ${out}`);
        if (mode === 'worker') return out.includes('ready');
        try {
          return (await fetch(`${url}/readyz`)).ok;
        } catch {
          return false;
        }
      },
      `taskbus ${mode} to be ready`,
      60_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    child,
    url,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    kill9: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
