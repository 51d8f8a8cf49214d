import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The error the fake `deadLetter` throws, as the product's stops the handler. */
export class DeadLettered extends Error {
  constructor(
    readonly reason: string,
    readonly description?: string,
  ) {
    super(`dead-lettered: ${reason}`);
  }
}

/** A task context with what SPEC §2 gives a handler, for calling handlers directly. */
export function fakeContext(name: string) {
  return {
    id: randomUUID(),
    name,
    deliveryCount: 1,
    enqueuedAt: Date.parse('2024-05-01T12:00:00Z'),
    signal: new AbortController().signal,
    log: { info() {}, warn() {}, error() {}, debug() {} },
    progress(_value: unknown) {},
    deadLetter: (reason: string, description?: string): never => {
      throw new DeadLettered(reason, description);
    },
    enqueue: async () => ({ id: randomUUID() }),
  };
}

/** Points TASKBUS_EXAMPLES_OUT at a fresh directory; the returned function removes it. */
export async function useOutputDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'taskbus-examples-test-'));
  const previous = process.env.TASKBUS_EXAMPLES_OUT;
  process.env.TASKBUS_EXAMPLES_OUT = dir;
  return {
    dir,
    cleanup: async () => {
      if (previous === undefined) delete process.env.TASKBUS_EXAMPLES_OUT;
      else process.env.TASKBUS_EXAMPLES_OUT = previous;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
