#!/usr/bin/env node
// `npm run bench [-- flags]`: runs the benchmarks in bench/ (see docs/benchmarks.md).
// bench/ has its own package.json so the product never ships BullMQ, pg-boss,
// graphile-worker or autocannon; its dependencies are installed from its lockfile
// on first use.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bench = join(root, 'bench');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (!existsSync(join(bench, 'node_modules'))) {
  console.log('Installing the benchmark dependencies (npm ci --prefix bench)...');
  const install = spawnSync(npm, ['ci', '--prefix', bench, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (install.status !== 0) process.exit(install.status ?? 1);
}

// The benchmark measures the product as it ships, its build: compile the current sources first.
const build = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const run = spawnSync(process.execPath, [join(bench, 'run.mjs'), ...process.argv.slice(2)], {
  cwd: bench,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
