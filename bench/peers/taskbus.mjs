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
import { pgAvailable, recreatePgDatabase } from '../lib/stores.mjs';
import { makeHandler, noopBodies, nowMs, waitFor } from '../lib/util.mjs';
import { startTaskbusHttp } from './taskbus-http.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TASK = 'noop';
// A fixed path, so the HTTP server and worker child processes of a run open the
// same file the harness reset.
const SQLITE_DIR = join(tmpdir(), 'taskbus-bench');
const SQLITE_FILE = join(SQLITE_DIR, 'bench.db');

// Warnings and errors only (read by the product's logger): a log line per task
// would measure the logger.
process.env.TASKBUS_LOG_LEVEL ??= 'warn';

let loaded = null;
export function loadTaskbus() {
  loaded ??= (async () => {
    const src = join(ROOT, 'src/index.ts');
    const dist = join(ROOT, 'dist/index.js');
    if (existsSync(src)) {
      const { tsImport } = await import(tsxEsmApi());
      return tsImport(pathToFileURL(src).href, import.meta.url);
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

function variant({ id, label, db, reset, storeUnavailable }) {
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
});

async function connect(db, { deliveries = 1 } = {}) {
  const { createTaskbus } = await loadTaskbus();
  let handler = makeHandler('noop');
  let concurrency = 10;
  const open = (taskHandler = (body) => handler.fn(body), settings = {}) =>
    createTaskbus({
      db,
      tasks: {
        [TASK]: {
          // The same counting no-op / throwing handler every peer runs.
          handler: taskHandler,
          concurrency,
          maxDeliveryCount: deliveries,
          backoff: { type: 'none' },
          ...settings,
        },
      },
    });
  let tb = await open();

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
      await tb.startWorkers();
    },
    starts: () => handler.state.starts,
    pending: async () => unsettled(await tb.counts([TASK])),
    // Through the product itself: enqueue n, run them with a handler that fails
    // every odd one (one delivery, so it is dead-lettered at once), and wait
    // until all are settled. The history then holds what a real one would:
    // bodies, results, attempts, dead-letter reasons.
    async seedRetained(n) {
      const seed = await open(makeHandler('half').fn, { concurrency: 100, maxDeliveryCount: 1 });
      try {
        for (let start = 0; start < n; start += 1000) {
          await seed.enqueueMany(TASK, noopBodies(Math.min(1000, n - start), start));
        }
        await seed.startWorkers();
        const done = await waitFor(async () => unsettled(await seed.counts([TASK])) === 0, nowMs() + 600_000, 250);
        if (!done) throw new Error('seeding retained tasks did not finish in 10 minutes');
      } finally {
        await seed.close();
      }
    },
    close: () => tb.close(),
  };
}

const unsettled = (counts) => {
  const c = counts.find((x) => x.name === TASK) ?? {};
  return (c.scheduled ?? 0) + (c.queued ?? 0) + (c.running ?? 0);
};
