/**
 * Progress of long CLI work, through the real binary: a bar on a terminal (a pseudo-terminal
 * from `script`), nothing in a pipe, and the data on stdout either way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createTaskbus } from '../../src/taskbus.ts';
import { BIN, CLI_ENV, runCli } from '../support/process.ts';

const N = 300;
const dir = mkdtempSync(join(tmpdir(), 'taskbus-progress-'));
const db = join(dir, 'p.db');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Dead-letters N messages of task `bulk` directly through the driver. */
async function seed(): Promise<void> {
  const tb = await createTaskbus({
    tasks: {},
    db,
    acceptUnknownTasks: true,
    logger: pino({ level: 'silent' }),
  });
  try {
    await tb.enqueueMany(
      'bulk',
      Array.from({ length: N }, (_, i) => ({ i })),
    );
    const now = tb.clock.now();
    const got = await tb.driver.receive({
      name: 'bulk',
      limit: N,
      lockDurationMs: 60_000,
      workerId: 'w',
      now,
    });
    await tb.driver.settle({
      now,
      settlements: got.map((m) => ({
        kind: 'deadletter' as const,
        id: m.id,
        lockToken: m.lockToken,
        reason: 'Seeded',
        description: 'seeded for the test',
        attempt: { startedAt: now, endedAt: now, worker: 'w', error: { name: 'Error', message: 'seeded' } },
      })),
    });
  } finally {
    await tb.close(0);
  }
}

const hasScript = existsSync('/usr/bin/script');
/** Runs the CLI with stderr on a pseudo-terminal and stdout in a file. */
function onTerminal(args: string[], stdoutFile: string) {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  return spawnSync('script', ['-qec', `${cmd} > '${stdoutFile}'`, '/dev/null'], {
    env: { ...CLI_ENV, CI: '', TASKBUS_NO_PROGRESS: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('progress › taskbus dlq export and resubmit', () => {
  before(seed);

  it('in a pipe: JSON lines on stdout, nothing on stderr', () => {
    const r = runCli(['dlq', 'export', 'bulk', '--db', db], { cwd: dir, env: { CI: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, N);
    assert.equal(r.stderr, '');
  });

  it('on a terminal: a bar that ends at the count; stdout still only data', { skip: !hasScript }, () => {
    const out = join(dir, 'export.jsonl');
    const r = onTerminal(['dlq', 'export', 'bulk', '--db', db], out);
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`export \\[.*\\] ${N}/${N} 100%`));
    const lines = spawnSync('wc', ['-l', out], { encoding: 'utf8' }).stdout;
    assert.equal(Number.parseInt(lines, 10), N);

    const moved = onTerminal(['dlq', 'resubmit', 'bulk', '--all', '--db', db], join(dir, 'resubmit.json'));
    assert.equal(moved.status, 0, moved.stdout);
    assert.match(moved.stdout, new RegExp(`resubmit \\[.*\\] ${N}/${N} 100%`));
  });
});
