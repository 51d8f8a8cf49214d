/**
 * Progress bars for CLI commands that move or export many messages (cli-progress). Drawn on
 * stderr, and only when stderr is a terminal: in a pipe, a log or CI, nothing is written, so
 * stdout stays clean data (e.g. `taskbus dlq export > dead.jsonl` still shows the bar).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Counts `n` more items done. */
  increment(n?: number): void;
  /** Changes the total when it turns out different (a filter matched fewer). */
  setTotal(total: number): void;
  /** Done: the total becomes the count reached (a filter may match fewer), then stop. */
  finish(): void;
  /** Draws the last state and releases the terminal line (on failure: no claim of 100%). */
  stop(): void;
}

const QUIET: Progress = { increment() {}, setTotal() {}, finish() {}, stop() {} };

/** Below this many items a bar is noise: the command is done before it would draw. */
export const PROGRESS_MIN_ITEMS = 200;

export function progressBar(
  label: string,
  total: number,
  o: { stream?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv; minItems?: number } = {},
): Progress {
  const stream = o.stream ?? process.stderr;
  const env = o.env ?? process.env;
  if (!stream.isTTY || env.CI || env.TASKBUS_NO_PROGRESS || total < (o.minItems ?? PROGRESS_MIN_ITEMS))
    return QUIET;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} {percentage}% | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  let done = 0;
  return {
    increment(n = 1) {
      done += n;
      if (done > bar.getTotal()) bar.setTotal(done);
      bar.increment(n);
    },
    setTotal(t) {
      bar.setTotal(Math.max(t, done));
    },
    finish() {
      bar.setTotal(done);
      bar.update(done);
      bar.stop();
    },
    stop() {
      if (bar.isActive) bar.stop();
    },
  };
}
