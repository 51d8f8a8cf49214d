// Taskbus itself, through its public programmatic API (createTaskbus), on SQLite
// (a temp file) and on PostgreSQL (the bench database). The product is measured as
// it ships: its build, ../dist, which `npm run bench` compiles from the sources
// before every run (scripts/bench.mjs).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pgUrl } from '../lib/settings.mjs';
import { pgAvailable, recreatePgDatabase, settlePgDatabase } from '../lib/stores.mjs';
import { makeHandler, noopBodies } from '../lib/util.mjs';
import { startTaskbusHttp } from './taskbus-http.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TASK = 'noop';
// Fixed paths, so the HTTP server and worker child processes of a run open the
// same file the harness reset; one file per store (see pgUrl).
const SQLITE_DIR = join(tmpdir(), 'taskbus-bench');
const sqliteFile = (slot = 'main') => join(SQLITE_DIR, slot === 'main' ? 'bench.db' : 'retained.db');

// Errors only (read by the product's logger). The peers log nothing per task,
// and Taskbus logs a warning per dead-lettered message, which in the failure
// and growth workloads would measure writing JSON lines to the terminal.
process.env.TASKBUS_LOG_LEVEL ??= 'error';

let loaded = null;
export function loadTaskbus() {
  loaded ??= (async () => {
    const dist = join(ROOT, 'dist/index.js');
    if (!existsSync(dist)) throw new Error('dist/index.js does not exist: run `npm run build`');
    return import(pathToFileURL(dist).href);
  })();
  return loaded;
}

function variant({ id, label, store, dbAt, reset, settle, storeUnavailable }) {
  const db = dbAt();
  const system = {
    id,
    label,
    kind: 'taskbus',
    store,
    async unavailable() {
      const down = await storeUnavailable();
      if (down) return down;
      try {
        const mod = await loadTaskbus();
        if (typeof mod.createTaskbus !== 'function') return 'the package does not export createTaskbus yet';
        await reset();
        // Opening and migrating proves the driver for this URL exists.
        const tb = await mod.createTaskbus({ db, tasks: { [TASK]: { handler: async () => null } } });
        await tb.close();
        return null;
      } catch (err) {
        return `Taskbus cannot open ${db}: ${err.message.split('\n')[0]}`;
      }
    },
    reset,
    settle,
    connect: (options = {}) => connect(dbAt(options.slot), options),
    startHttp: () => startTaskbusHttp({ db }),
    // The HTTP workload needs the CLI; without it the row says so instead of failing.
    get unsupported() {
      return existsSync(join(ROOT, 'bin/taskbus.mjs')) ? {} : { http: 'bin/taskbus.mjs is not there yet' };
    },
  };
  return system;
}

export const taskbusSqlite = variant({
  id: 'taskbus-sqlite',
  label: 'Taskbus (SQLite)',
  store: 'sqlite',
  dbAt: sqliteFile,
  storeUnavailable: async () => null,
  reset: async (slot) => {
    const file = sqliteFile(slot);
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    mkdirSync(SQLITE_DIR, { recursive: true });
  },
  settle: settleSqliteFile,
});

// After the bulk seed and between retained runs, what a long-lived store would have
// done long before: the WAL checkpointed into the database file and the file's dirty
// pages written out by the OS. Without it the first seconds after writing a few
// hundred megabytes are measured (the background checkpoint and the kernel's
// writeback compete with the worker), as settlePgDatabase does on PostgreSQL.
async function settleSqliteFile(slot) {
  const Database = createRequire(join(ROOT, 'package.json'))('better-sqlite3');
  const db = new Database(sqliteFile(slot));
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  spawnSync('sync');
}

export const taskbusPostgres = variant({
  id: 'taskbus-pg',
  label: 'Taskbus (PostgreSQL)',
  store: 'postgres',
  dbAt: pgUrl,
  storeUnavailable: pgAvailable,
  reset: recreatePgDatabase,
  settle: settlePgDatabase,
});

async function connect(db, { deliveries = 1 } = {}) {
  const { createTaskbus } = await loadTaskbus();
  let handler = makeHandler('noop');
  let concurrency = 10;
  const open = () =>
    createTaskbus({
      db,
      tasks: {
        [TASK]: {
          // The same counting no-op / throwing handler every peer runs.
          handler: (body) => handler.fn(body),
          concurrency,
          maxDeliveryCount: deliveries,
          backoff: { type: 'none' },
        },
      },
    });
  let tb = await open();
  const retired = [];
  let finals = 0;

  return {
    enqueue: (body) => tb.enqueue(TASK, body),
    enqueueMany: (bodies) => tb.enqueueMany(TASK, bodies),
    async work(spec) {
      handler = makeHandler(spec.mode ?? 'noop', spec.onStart);
      // Concurrency is a task setting, fixed when the instance is created. The new
      // instance opens inside the timed window (as graphile-worker's run() makes its
      // pool there); the one it replaces is closed after the run, in close().
      if (spec.concurrency !== concurrency) {
        retired.push(tb);
        concurrency = spec.concurrency;
        tb = await open();
      }
      finals = 0;
      tb.on('settled', (e) => {
        if (e.kind !== 'abandon') finals++;
      });
      await tb.startWorkers();
    },
    starts: () => handler.state.starts,
    pending: async () => unsettled(await tb.counts([TASK])),
    // Final settlements (completed or dead-lettered), from the 'settled' event
    // that the worker emits after the batch is committed: the end of a drain is
    // seen without polling counts(), which scans the retained history.
    settled: () => finals,
    // Through the product's own API, without a worker: enqueue 1,000 at a time,
    // receive them and settle them in one batch, every odd one dead-lettered as
    // after its last delivery. The store then holds what a real history holds
    // (bodies, results, attempts, dead-letter reasons) at a fraction of the
    // time a worker would take.
    async seedRetained(n) {
      const { driver } = tb;
      for (let start = 0; start < n; start += 1000) {
        const size = Math.min(1000, n - start);
        await tb.enqueueMany(TASK, noopBodies(size, start));
        const now = Date.now();
        const received = await driver.receive({ name: TASK, limit: size, lockDurationMs: 60_000, workerId: 'seed', now });
        const settlements = received.map((m, k) => {
          const failed = (start + k) % 2 === 1;
          const attempt = { startedAt: now, endedAt: now, worker: 'seed', error: failed ? SEED_ERROR : null };
          return failed
            ? { kind: 'deadletter', id: m.id, lockToken: m.lockToken, reason: 'MaxDeliveryCountExceeded', description: SEED_ERROR.message, attempt }
            : { kind: 'complete', id: m.id, lockToken: m.lockToken, result: null, attempt };
        });
        await driver.settle({ settlements, now });
      }
    },
    async close() {
      for (const old of retired) await old.close();
      await tb.close();
    },
  };
}

const SEED_ERROR = { name: 'Error', message: 'bench: always fails' };

const unsettled = (counts) => {
  const c = counts.find((x) => x.name === TASK) ?? {};
  return (c.scheduled ?? 0) + (c.queued ?? 0) + (c.running ?? 0);
};
