import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints, and long reads, on a thread of their own. By default SQLite checkpoints inside
 * the commit that crosses `wal_autocheckpoint` pages, on the thread that serves requests and runs
 * handlers: a checkpoint copies the WAL into the database file and fsyncs it, a sixth of the cost
 * of a busy group commit. Here one thread per process runs a passive checkpoint (it never blocks
 * a writer or a reader) on every file-backed database every 100 ms, on its own connection, while
 * the drivers keep a high automatic threshold as a backstop in case the thread falls behind. The
 * same connection answers the scans of the whole history (the settled-states count), so they do
 * not block the event loop that serves requests and runs handlers.
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
parentPort.on('message', ({ op, file, id, sql }) => {
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
    parentPort.postMessage({ op: 'done', id });
  } else if (op === 'query') {
    try {
      if (!entry) throw new Error('the file is not open on the background thread');
      entry.statements ??= new Map();
      let st = entry.statements.get(sql);
      if (!st) entry.statements.set(sql, (st = entry.db.prepare(sql)));
      parentPort.postMessage({ op: 'done', id, rows: st.all() });
    } catch (err) {
      parentPort.postMessage({ op: 'done', id, error: String(err && err.message || err) });
    }
  }
});
setInterval(() => {
  for (const { db } of files.values()) {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  }
}, workerData.intervalMs);
`;

type Answer = { rows?: unknown[]; error?: string };
let thread: Worker | null = null;
const waiting = new Map<number, (a: Answer) => void>();
let nextId = 0;

function checkpointer(): Worker {
  if (!thread) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const t = new Worker(SOURCE, { eval: true, workerData: { driver, intervalMs: CHECKPOINT_INTERVAL_MS } });
    t.unref();
    t.on('message', (m: { op: string; id: number } & Answer) => {
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
      // Referenced only while a close waits for it, so the answer arrives before the process ends.
      if (waiting.size === 0) t.unref();
    });
    // A thread that died leaves the writers' own backstop checkpoints; the next driver starts one.
    const gone = () => {
      if (thread === t) thread = null;
      for (const done of waiting.values()) done({ error: 'the background thread stopped' });
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
  return async () => {
    await ask(t, { op: 'remove', file });
  };
}

/**
 * Runs a read-only statement on the thread's connection to `file` (one that
 * `checkpointInBackground` opened): a long scan neither blocks this thread's event loop nor
 * evicts the hot pages from its connection's cache.
 */
export async function queryInBackground(file: string, sql: string): Promise<unknown[]> {
  const t = thread;
  if (!t) throw new Error('the background thread stopped');
  const a = await ask(t, { op: 'query', file, sql });
  if (a.error !== undefined) throw new Error(a.error);
  return a.rows ?? [];
}

/** Posts a request and waits for its answer; the thread is referenced while any is pending. */
function ask(t: Worker, message: Record<string, unknown>): Promise<Answer> {
  return new Promise((resolve) => {
    if (thread !== t) return resolve({ error: 'the background thread stopped' });
    const id = ++nextId;
    waiting.set(id, resolve);
    t.ref();
    t.postMessage({ ...message, id });
  });
}
