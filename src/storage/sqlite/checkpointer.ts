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
parentPort.on('message', ({ op, file, id }) => {
  const entry = files.get(file);
  if (op === 'add') {
    if (entry) { entry.refs++; return; }
    try {
      const db = new Database(file, { fileMustExist: true });
      db.pragma('busy_timeout = 1000');
      files.set(file, { db, refs: 1 });
    } catch {}
  } else if (op === 'remove') {
    if (entry && --entry.refs === 0) {
      files.delete(file);
      try { entry.db.close(); } catch {}
    }
    parentPort.postMessage({ op: 'removed', id });
  }
});
setInterval(() => {
  for (const { db } of files.values()) {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  }
}, workerData.intervalMs);
`;

let thread: Worker | null = null;
const waiting = new Map<number, () => void>();
let nextId = 0;

function checkpointer(): Worker {
  if (!thread) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const t = new Worker(SOURCE, { eval: true, workerData: { driver, intervalMs: CHECKPOINT_INTERVAL_MS } });
    t.unref();
    t.on('message', (m: { op: string; id: number }) => {
      waiting.get(m.id)?.();
      waiting.delete(m.id);
      // Referenced only while a close waits for it, so the answer arrives before the process ends.
      if (waiting.size === 0) t.unref();
    });
    // A thread that died leaves the writers' own backstop checkpoints; the next driver starts one.
    const gone = () => {
      if (thread === t) thread = null;
      for (const done of waiting.values()) done();
      waiting.clear();
    };
    t.on('error', gone);
    t.on('exit', gone);
    thread = t;
  }
  return thread;
}

/**
 * Checkpoints `file` off the calling thread until the returned function is called; that resolves
 * once the thread's connection to the file is closed. Waiting matters: the last connection to a
 * WAL database removes the `-wal` and `-shm` files by name when it closes, so a connection left
 * open to a file that was deleted and created anew would delete the new database's WAL.
 */
export function checkpointInBackground(file: string): () => Promise<void> {
  const t = checkpointer();
  t.postMessage({ op: 'add', file });
  return () =>
    new Promise<void>((resolve) => {
      if (thread !== t) return resolve();
      const id = ++nextId;
      waiting.set(id, resolve);
      t.ref();
      t.postMessage({ op: 'remove', file, id });
    });
}
