#!/usr/bin/env node
// Runs every test file through node's test runner with tsx (Node 20's --test expands no globs).
// Usage: npm test [-- FILTER...]   e.g. npm test -- contract  runs the files whose path has "contract".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' ? [] : walk(p);
    return p.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  { cwd: root, stdio: 'inherit', env: { TASKBUS_LOG_LEVEL: 'silent', ...process.env } },
);
process.exit(r.status ?? 1);
