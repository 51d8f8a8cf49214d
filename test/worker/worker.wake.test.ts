import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { createTaskbus } from '../../src/taskbus.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-wake-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('worker wake-ups on SQLite', () => {
  it('subscribe › a commit by another connection to the file wakes an idle worker long before its poll', async () => {
    const db = join(dir, 'shared.db');
    const logger = pino({ level: 'silent' });
    let ran = 0;
    // The worker polls once a minute: only the file watch can start the task within the wait.
    const worker = await createTaskbus({
      db,
      logger,
      tasks: { ping: async () => ++ran },
      worker: { pollIntervalMs: 60_000 },
    });
    const producer = await createTaskbus({ db, logger, tasks: { ping: async () => 0 } });
    try {
      assert.equal(worker.driver.capabilities.notifications, true);
      await worker.startWorkers();
      await new Promise((r) => setTimeout(r, 50)); // let the first, empty receive pass
      const { id } = await producer.enqueue('ping', null);
      const m = await waitFor(
        async () => {
          const x = await worker.getTask(id);
          return x?.state === 'completed' ? x : null;
        },
        'the other connection’s task to complete',
        10_000,
      );
      assert.equal(m.result, 1);
    } finally {
      await producer.close();
      await worker.close();
    }
  });

  it('capabilities › an in-memory database declares no cross-process notifications', async () => {
    const tb = await createTaskbus({
      db: ':memory:',
      logger: pino({ level: 'silent' }),
      tasks: { x: async () => 1 },
    });
    assert.equal(tb.driver.capabilities.notifications, false);
    await assert.rejects(
      tb.driver.subscribe!(() => {}),
      /in-memory/,
    );
    await tb.close();
  });
});
