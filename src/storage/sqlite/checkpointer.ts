import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own. By default SQLite checkpoints inside the commit that
 * crosses `wal_autocheckpoint` pages, on the thread that serves requests and runs handlers: a
 * checkpoint copies the WAL into the database file and fsyncs it, a sixth of the cost of a busy
 * group commit. Here one thread per process runs a passive checkpoint (it never blocks a writer or
 * a reader) on every file-backed database every 100 ms, on its own connection, while the drivers
 * keep a high automatic threshold as a backstop in case the thread falls behind.
 *
 * The thread is unreferenced (it never keeps a process alive) and outlives the drivers that use
 * it: starting a thread costs more than keeping an idle one.
 */
export const CHECKPOINT_INTERVAL_MS = 100;
/** The writer's own checkpoint threshold (pages): reached only if the thread falls behind. */
export const BACKSTOP_PAGES = 4000;

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const files = new Map();
parentPort.on('message', ({ op, file }) => {
  const entry = files.get(file);
  if (op === 'add') {
    if (entry) { entry.refs++; return; }
    try {
      const db = new Database(file, { fileMustExist: true });
      db.pragma('busy_timeout = 1000');
      files.set(file, { db, refs: 1 });
    } catch {}
  } else if (op === 'remove' && entry && --entry.refs === 0) {
    files.delete(file);
    try { entry.db.close(); } catch {}
  }
});
setInterval(() => {
  for (const { db } of files.values()) {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  }
}, workerData.intervalMs);
`;

let thread: Worker | null = null;

function checkpointer(): Worker {
  if (!thread) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    thread = new Worker(SOURCE, { eval: true, workerData: { driver, intervalMs: CHECKPOINT_INTERVAL_MS } });
    thread.unref();
    // A thread that died leaves the writers' own backstop checkpoints; the next driver starts one.
    thread.on('error', () => {
      thread = null;
    });
    thread.on('exit', () => {
      thread = null;
    });
  }
  return thread;
}

/** Checkpoints `file` off the calling thread until the returned function is called. */
export function checkpointInBackground(file: string): () => void {
  const t = checkpointer();
  t.postMessage({ op: 'add', file });
  return () => t.postMessage({ op: 'remove', file });
}
