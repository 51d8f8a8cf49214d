#!/usr/bin/env node
// The taskbus command. Runs the built CLI (dist/) when present, else the TypeScript source
// through tsx, so a fresh clone works before `npm run build`. TASKBUS_FROM_SOURCE=1 forces
// the source (tests use it so they never run a stale build).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(dist) && !process.env.TASKBUS_FROM_SOURCE) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
