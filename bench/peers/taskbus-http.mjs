// Taskbus's own HTTP trigger, `POST /api/{name}`, served by its CLI in a child
// process the way a user runs it. `taskbus api` (the API half, no workers)
// matches the peers' routes, which only enqueue.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnProgram } from '../lib/child.mjs';
import { nowMs, sleep } from '../lib/util.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TASKS_DIR = fileURLToPath(new URL('../tasks', import.meta.url));
const BIN = join(ROOT, 'bin/taskbus.mjs');
const MASTER_KEY = 'bench-master-key-0123456789abcdef';

export async function startTaskbusHttp({ db }) {
  const command = 'api';
  if (!existsSync(BIN)) throw new Error('bin/taskbus.mjs does not exist yet');
  const port = await freePort();
  // Run from an empty folder so no taskbus.config.* of the repository applies;
  // bin/taskbus.mjs runs the build, as the programmatic adapter does.
  const cwd = mkdtempSync(join(tmpdir(), 'taskbus-bench-cwd-'));
  const server = spawnProgram(process.execPath, [BIN, command, '--tasks', TASKS_DIR, '--port', String(port), '--db', db], {
    cwd,
    env: {
      TASKBUS_MASTER_KEY: MASTER_KEY,
      TASKBUS_LOG_LEVEL: process.env.TASKBUS_LOG_LEVEL ?? 'error',
      NODE_ENV: 'production',
    },
  });
  const stop = async () => {
    await server.stop();
    rmSync(cwd, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = nowMs() + 30_000;
  while (nowMs() < deadline) {
    if (server.child.exitCode !== null) {
      rmSync(cwd, { recursive: true, force: true });
      throw new Error(`taskbus ${command} exited: ${server.output().slice(-800)}`);
    }
    if (await ready(`${base}/readyz`)) {
      return { url: `${base}/api/noop`, headers: { 'x-functions-key': MASTER_KEY }, stop };
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`taskbus ${command} was not ready in 30 s: ${server.output().slice(-800)}`);
}

async function ready(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
