import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { createTaskbus } from '../../src/taskbus.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('worker crash', () => {
  it('kill -9 › a message whose worker process dies is redelivered after its lock expires', async () => {
    const db = join(dir, 'crash.db');
    const tb = await createTaskbus({
      db,
      logger: pino({ level: 'silent' }),
      worker: { rescueIntervalMs: 50 },
      tasks: { fragile: { lockDurationMs: 300, handler: async () => 'recovered' } },
    });
    try {
      const { id } = await tb.enqueue('fragile', { n: 1 });
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-child.ts'), db],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
      });
      await waitFor(() => out.includes(`started ${id}`), 'the child to start the handler', 30_000);
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGKILL');
      await exited;
      assert.equal((await tb.getTask(id))!.deliveryCount, 1);

      await tb.startWorkers();
      const m = await waitFor(async () => {
        const x = await tb.getTask(id);
        return x?.state === 'completed' ? x : null;
      }, 'the message to complete in this process');
      assert.equal(m.result, 'recovered');
      assert.equal(m.deliveryCount, 2);
      assert.deepEqual(
        m.attempts.map((a) => a.error?.name ?? null),
        ['LockLostError', null],
      );
      assert.equal(m.attempts[0].error!.message, 'lock expired');
    } finally {
      await tb.close(100);
    }
  });
});
