// HTTP enqueue: a POST that stores one task and answers 202, under load from
// autocannon in its own process (50 connections, fixed duration). Peers get the
// minimal Fastify route a user would write; Taskbus serves its own endpoint; the
// `bare` route answers 202 without storing anything, the machine's ceiling.

import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { forkChild } from '../lib/child.mjs';

const run = promisify(execFile);
const SERVER = fileURLToPath(new URL('../lib/http-server.mjs', import.meta.url));
const LOAD = fileURLToPath(new URL('../lib/load.mjs', import.meta.url));

export const BARE = { id: 'bare', label: 'bare Fastify 202 (ceiling)', kind: 'ceiling', unavailable: async () => null };

export function httpCases(settings) {
  const { seconds, connections } = settings.http;
  return [
    {
      id: 'http',
      title: `HTTP enqueue (${connections} connections, ${seconds} s)`,
      unit: 'req/s',
      metric: 'throughput',
      withCeiling: true,
      measure: (system) => measureHttp(system, { seconds, connections }),
    },
  ];
}

async function measureHttp(system, { seconds, connections }) {
  if (system.reset) await system.reset();
  const server = await startServer(system);
  try {
    const config = JSON.stringify({ url: server.url, connections, seconds, headers: server.headers ?? {} });
    const { stdout } = await run(process.execPath, [LOAD, config], { timeout: (seconds + 30) * 1000 });
    const result = JSON.parse(stdout.trim().split('\n').pop());
    if (result.non2xx > 0 || result.errors > 0) {
      result.note = `${result.non2xx} non-2xx, ${result.errors} errors`;
    }
    return result;
  } finally {
    await server.stop();
  }
}

async function startServer(system) {
  if (system.startHttp) return system.startHttp();
  const child = forkChild(SERVER, [system.id]);
  const { url } = await child.ready();
  return { url, headers: {}, stop: child.stop };
}
