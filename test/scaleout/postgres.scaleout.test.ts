/**
 * Scale-out on PostgreSQL with the real binary: 2 `taskbus api` and 3 `taskbus worker` processes
 * share one schema. A few thousand tasks go in over HTTP through both APIs; midway one worker is
 * killed with SIGKILL and, later, every connection of every process is terminated on the server
 * (pg_terminate_backend: what a failover or a network cut looks like to the processes). Every
 * acknowledged task must complete — none lost, none stuck — and every surviving process must
 * reconnect by itself and keep working. Prints the measured throughput.
 *
 * Bounded: N tasks (TASKBUS_SCALEOUT_TASKS, default 3000), 64 requests in flight, each request
 * retried at most 50 times, 60 s to drain.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  adminQuery,
  eventually,
  postgresPreflight,
  postgresUrl,
  terminateBackends,
  useSchemas,
} from '../support/postgres.ts';
import { runCli, type ServerProcess, startProcess } from '../support/process.ts';

const N = Number(process.env.TASKBUS_SCALEOUT_TASKS ?? 3000);
const IN_FLIGHT = 64;
const KEY = `scaleout-master-${randomBytes(8).toString('hex')}`;

const dir = mkdtempSync(join(tmpdir(), 'taskbus-scaleout-'));
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
// A no-op task; a short lock so the killed worker's messages come back within seconds.
writeFileSync(
  join(tasks, 'noop.mjs'),
  'export default { concurrency: 32, lockDurationMs: 3000, handler: async (body) => body.i };',
);
after(() => rmSync(dir, { recursive: true, force: true }));

describe('scale-out on PostgreSQL', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();

  it('2 api + 3 worker processes: no acknowledged task lost or stuck through kill -9 and pg_terminate_backend', {
    timeout: 180_000,
  }, async (t) => {
    const schema = schemas.create();
    const app = `tb-scaleout-${randomBytes(4).toString('hex')}`;
    const db = postgresUrl({ schema, application_name: app, pool_size: '4' });
    const env = { TASKBUS_MASTER_KEY: KEY, TASKBUS_LOG_JSON: '1' };
    const procs: ServerProcess[] = [];
    try {
      // The documented first step; every process would also migrate on start.
      const migrated = runCli(['migrate', '--db', db, '--tasks', tasks]);
      assert.equal(migrated.code, 0, migrated.stderr);
      const started = await Promise.all([
        startProcess('api', ['--tasks', tasks, '--db', db], { env }),
        startProcess('api', ['--tasks', tasks, '--db', db], { env }),
        startProcess('worker', ['--tasks', tasks, '--db', db], { env }),
        startProcess('worker', ['--tasks', tasks, '--db', db], { env }),
        startProcess('worker', ['--tasks', tasks, '--db', db], { env }),
      ]);
      procs.push(...started);
      const apis = started.slice(0, 2);
      const [victim, ...survivors] = started.slice(2);

      const acked = new Set<string>();
      const ackedByApi = [0, 0];
      let retries = 0;
      let killedAt = 0;
      let terminatedAt = 0;
      let terminated = 0;
      const ackedAfterTerminate = [0, 0];
      let next = 0;
      const t0 = Date.now();

      /** One task: POST to an API (alternating), retried on a 503 or a cut connection. */
      const send = async (i: number) => {
        for (let attempt = 0; attempt < 50; attempt++) {
          const api = (i + attempt) % 2;
          try {
            const r = await fetch(`${apis[api].url}/api/noop`, {
              method: 'POST',
              headers: { 'x-functions-key': KEY, 'content-type': 'application/json' },
              body: JSON.stringify({ i }),
            });
            const doc = (await r.json()) as { id?: string };
            if (r.status === 202 && doc.id) {
              acked.add(doc.id);
              ackedByApi[api]++;
              if (terminatedAt) ackedAfterTerminate[api]++;
              return;
            }
            assert.equal(r.status, 503, `unexpected ${r.status}: ${JSON.stringify(doc)}`);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
          }
          retries++;
          await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error(`task ${i} was never acknowledged`);
      };
      const faults = async () => {
        if (!killedAt && acked.size >= N / 3) {
          killedAt = Date.now();
          await victim.kill9();
        }
        if (!terminatedAt && acked.size >= (2 * N) / 3) {
          terminatedAt = Date.now();
          terminated = await terminateBackends(app);
        }
      };
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < N) {
            await send(next++);
            await faults();
          }
        }),
      );
      const enqueuedIn = Date.now() - t0;
      assert.equal(acked.size, N);
      assert.ok(killedAt && terminatedAt, 'both faults happened midway');
      assert.ok(terminated >= 5, `every process had its connections terminated (${terminated})`);

      // Every acknowledged task completes, counted from the database.
      const ids = [...acked];
      const completed = async () =>
        Number(
          (
            await adminQuery(
              `SELECT count(*) AS n FROM ${schema}.messages WHERE id = ANY($1) AND state = 'completed'`,
              [ids],
            )
          ).rows[0].n,
        );
      try {
        await eventually(async () => (await completed()) === N, 60_000, 100);
      } catch (err) {
        // Enough to debug from the log alone: where the messages are, what each process said.
        const left = await adminQuery(
          `SELECT state, count(*)::int AS n, max(delivery_count) AS deliveries FROM ${schema}.messages GROUP BY state`,
        );
        process.stderr.write(`# scale-out stuck: ${JSON.stringify(left.rows)}\n`);
        for (const p of procs) {
          const tail = p.output().trim().split('\n').slice(-15).join('\n# ');
          process.stderr.write(`# pid ${p.child.pid} (exit ${p.child.exitCode}):\n# ${tail}\n`);
        }
        throw err;
      }
      const doneIn = Date.now() - t0;

      // None stuck, none dead-lettered: every stored message (acknowledged or a retried request
      // stored despite its 503) is completed.
      const states = await adminQuery(
        `SELECT state, count(*)::int AS n FROM ${schema}.messages GROUP BY state`,
      );
      assert.deepEqual(
        states.rows.filter((r) => r.state !== 'completed'),
        [],
        'no message left ready, locked or dead-lettered',
      );

      // The survivors reconnected by themselves: each ran tasks after the connections were cut,
      // and both APIs acknowledged tasks after it.
      const workersAfter = await adminQuery(
        // A successful attempt is kept in its message row (locked_at, locked_by), a failed one in attempts.
        `SELECT DISTINCT split_part(worker, ':', 2) AS pid FROM (
           SELECT worker, started_at FROM ${schema}.attempts
           UNION ALL SELECT locked_by, locked_at FROM ${schema}.messages WHERE state = 'completed'
         ) a WHERE started_at > $1`,
        [terminatedAt + 100],
      );
      const pids = new Set(workersAfter.rows.map((r) => Number(r.pid)));
      for (const w of survivors) {
        assert.ok(pids.has(w.child.pid!), `worker ${w.child.pid} worked after the connections were cut`);
        assert.equal(w.child.exitCode, null, 'the surviving worker is still running');
      }
      assert.ok(!pids.has(victim.child.pid!), 'the killed worker did no work');
      assert.ok(ackedAfterTerminate[0] > 0 && ackedAfterTerminate[1] > 0, 'both APIs served after the cut');
      for (const a of apis) assert.ok((await fetch(`${a.url}/readyz`)).ok);

      const rescued = await adminQuery(
        `SELECT count(*)::int AS n FROM ${schema}.attempts WHERE error LIKE '%lock expired%'`,
      );
      const stored = states.rows.reduce((s, r) => s + r.n, 0);
      const report = {
        tasks: N,
        stored,
        retriedRequests: retries,
        perApi: ackedByApi,
        terminatedConnections: terminated,
        lostDeliveriesRescued: rescued.rows[0].n,
        enqueueSeconds: enqueuedIn / 1000,
        totalSeconds: doneIn / 1000,
        enqueuedPerSecond: Math.round(N / (enqueuedIn / 1000)),
        completedPerSecond: Math.round(N / (doneIn / 1000)),
      };
      t.diagnostic(`scale-out: ${JSON.stringify(report)}`);
      process.stdout.write(`# scale-out: ${JSON.stringify(report)}\n`);
    } finally {
      await Promise.all(
        procs.map(async (p) => {
          const stop = p.stop();
          const timer = setTimeout(() => void p.kill9(), 15_000);
          await stop;
          clearTimeout(timer);
        }),
      );
    }
  });
});
