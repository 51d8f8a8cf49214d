import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { progressBar } from '../../src/observability/progress.ts';

function stream(isTTY: boolean) {
  let text = '';
  const s = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }) as Writable & { isTTY: boolean; columns: number };
  s.isTTY = isTTY;
  s.columns = 100;
  return { s: s as unknown as NodeJS.WriteStream, text: () => text };
}

describe('progress bars', () => {
  it('draw on a terminal, ending at the real count', () => {
    const out = stream(true);
    const bar = progressBar('resubmit', 1000, { stream: out.s, env: {} });
    bar.increment(400);
    bar.increment(500);
    bar.finish();
    assert.match(out.text(), /resubmit \[.*\] 900\/900 100%/);
    bar.stop();
  });

  it('stay quiet in a pipe, under CI, when asked, and for a handful of items', () => {
    for (const [isTTY, env, total] of [
      [false, {}, 10_000],
      [true, { CI: 'true' }, 10_000],
      [true, { TASKBUS_NO_PROGRESS: '1' }, 10_000],
      [true, {}, 20],
    ] as const) {
      const out = stream(isTTY);
      const bar = progressBar('export', total, { stream: out.s, env });
      bar.increment(total);
      bar.stop();
      assert.equal(out.text(), '', JSON.stringify({ isTTY, env, total }));
    }
  });
});
