// Taskbus itself, through its public programmatic API (createTaskbus), on SQLite
// (a temp file) and on PostgreSQL (the bench database). The product is loaded
// from ../src/index.ts through tsx when the sources are there (always current),
// else from ../dist/index.js (a build).

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PG_URL } from '../lib/settings.mjs';
import { pgAvailable, recreatePgDatabase, vacuumAnalyzePg } from '../lib/stores.mjs';
import { makeHandler, noopBodies } from '../lib/util.mjs';
import { startTaskbusHttp } from './taskbus-http.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TASK = 'noop';
// A fixed path, so the HTTP server and worker child processes of a run open the
// same file the harness reset.
const SQLITE_DIR = join(tmpdir(), 'taskbus-bench');
const SQLITE_FILE = join(SQLITE_DIR, 'bench.db');

// Errors only (read by the product's logger). The peers log nothing per task,
// and Taskbus logs a warning per dead-lettered message, which in the failure
// and growth workloads would measure writing JSON lines to the terminal.
process.env.TASKBUS_LOG_LEVEL ??= 'error';

let loaded = null;
export function loadTaskbus() {
  loaded ??= (async () => {
    const src = join(ROOT, 'src/index.ts');
    const dist = join(ROOT, 'dist/index.js');
    if (existsSync(src)) {
      const { tsImport } = await import(tsxEsmApi());
      const mod = await tsImport(pathToFileURL(src).href, import.meta.url);
      // tsx turns on source maps for the whole process, which makes every
      // error.stack cost a source-map lookup: it slowed BullMQ's failure path by
      // a quarter when it ran after Taskbus. The benchmark needs no mapped stacks.
      process.setSourceMapsEnabled(false);
      return mod;
    }
    if (existsSync(dist)) return import(pathToFileURL(dist).href);
    throw new Error('neither src/index.ts nor dist/index.js exists');
  })();
  return loaded;
}

// tsx is the product's dependency, not bench's: find its ESM API entry in the
// root's node_modules through the package's own exports map (require.resolve
// would pick the CommonJS build).
function tsxEsmApi() {
  const require = createRequire(join(ROOT, 'package.json'));
  const manifest = require.resolve('tsx/package.json');
  const entry = JSON.parse(readFileSync(manifest, 'utf8')).exports['./esm/api'].import.default;
  return pathToFileURL(join(dirname(manifest), entry)).href;
}

function variant({ id, label, db, reset, afterSeed, storeUnavailable }) {
  const system = {
    id,
    label,
    kind: 'taskbus',
    db,
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
    afterSeed,
    connect: (options) => connect(db, options),
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
  db: SQLITE_FILE,
  storeUnavailable: async () => null,
  reset: async () => {
    rmSync(SQLITE_DIR, { recursive: true, force: true });
    mkdirSync(SQLITE_DIR, { recursive: true });
  },
});

export const taskbusPostgres = variant({
  id: 'taskbus-pg',
  label: 'Taskbus (PostgreSQL)',
  db: PG_URL,
  storeUnavailable: pgAvailable,
  reset: recreatePgDatabase,
  afterSeed: vacuumAnalyzePg,
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
  let finals = 0;

  return {
    enqueue: (body) => tb.enqueue(TASK, body),
    enqueueMany: (bodies) => tb.enqueueMany(TASK, bodies),
    async work(spec) {
      handler = makeHandler(spec.mode ?? 'noop', spec.onStart);
      // Concurrency is a task setting, fixed when the instance is created.
      if (spec.concurrency !== concurrency) {
        await tb.close();
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
    close: () => tb.close(),
  };
}

const SEED_ERROR = { name: 'Error', message: 'bench: always fails' };

const unsettled = (counts) => {
  const c = counts.find((x) => x.name === TASK) ?? {};
  return (c.scheduled ?? 0) + (c.queued ?? 0) + (c.running ?? 0);
};
