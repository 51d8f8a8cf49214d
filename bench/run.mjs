// The benchmark harness: every workload, for every system in turn, in one run.
// Each measurement is repeated (--runs, default 3) and the medians are printed as
// a table with the ratio to the best peer, followed by the issue's targets with
// pass/miss, and written to results/latest.json.
//
//   node run.mjs [--quick] [--runs N] [--retained N] [--workloads a,b] [--systems a,b]
//
// Runs interleave the systems (run 1 of every system, then run 2, ...) so a slow
// drift of the machine, e.g. other work on it, spreads over all of them.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTargets, renderTable, renderTargets, renderWal } from './lib/report.mjs';
import { readSettings } from './lib/settings.mjs';
import { median, nowMs } from './lib/util.mjs';
import { systems as allSystems } from './peers/index.mjs';
import { enqueueCases } from './workloads/enqueue.mjs';
import { failureCases } from './workloads/failure.mjs';
import { growthCases } from './workloads/growth.mjs';
import { BARE, httpCases } from './workloads/http.mjs';
import { latencyCases } from './workloads/latency.mjs';
import { processCases } from './workloads/process.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKLOADS = { http: httpCases, enqueue: enqueueCases, process: processCases, latency: latencyCases, failure: failureCases, growth: growthCases };
// The figures of a run whose medians the report shows.
const MEDIAN_KEYS = ['throughput', 'p50', 'p95', 'p99', 'walBytesPerTask'];
// A whole run may not exceed this; partial results are still written.
const WATCHDOG_MINUTES = Number(process.env.BENCH_MAX_MINUTES ?? 60);

// A connection that the database reset ended (SQLSTATE 57P01, from its DROP DATABASE … WITH
// (FORCE)) in a pool a peer closed without waiting and no longer listens on (see
// recreatePgDatabase): the run it belonged to is over, so this ends no measurement and is
// only reported. Any other uncaught error still stops the benchmark.
process.on('uncaughtException', (err) => {
  if (err?.code === '57P01') {
    console.error(`[bench] a closed peer's idle connection was ended by the database reset: ${err.message}`);
    return;
  }
  console.error(err);
  process.exit(1);
});

const settings = readSettings();
const workloadIds = settings.workloads ?? Object.keys(WORKLOADS);
const cases = workloadIds.flatMap((w) => {
  if (!WORKLOADS[w]) throw new Error(`unknown workload '${w}' (known: ${Object.keys(WORKLOADS).join(', ')})`);
  return WORKLOADS[w](settings).map((c) => ({ ...c, workload: w }));
});
const systems = settings.systems ? allSystems.filter((s) => settings.systems.includes(s.id)) : allSystems;
const systemsByCase = (c) => (c.withCeiling ? [BARE, ...systems] : systems);
const results = {};
const startedAt = new Date();
const t0 = nowMs();

const log = (line) => console.log(`[${((nowMs() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const watchdog = setTimeout(() => {
  log(`watchdog: the run exceeded ${WATCHDOG_MINUTES} minutes; writing partial results`);
  finish(1);
}, WATCHDOG_MINUTES * 60_000);
watchdog.unref();

// Systems whose storage or code is missing are reported as skipped, not failed:
// e.g. Taskbus on PostgreSQL before its driver exists.
const unavailable = {};
for (const s of systems) {
  unavailable[s.id] = await s.unavailable();
  if (unavailable[s.id]) log(`skip ${s.label}: ${unavailable[s.id]}`);
}

// Cases that share a `group` run system by system, and within a system run by run:
// each case's `prepare` (untimed: the growth workload's seed), then run 1 of every case
// of the group, run 2 of every case, and so on, before the next system. The growth
// baseline and the retained store are measured alternately, each run of one beside
// the same run of the other, so that the machine's drift falls on both sides alike.
const batches = [];
for (const c of cases) {
  const last = batches.at(-1);
  if (c.group && last?.[0].group === c.group) last.push(c);
  else batches.push([c]);
}

for (const batch of batches) {
  for (const c of batch) {
    results[c.id] = {};
    for (const s of systemsByCase(c)) {
      const reason = unavailable[s.id] ?? null;
      const unsupported = s.unsupported?.[c.workload];
      results[c.id][s.id] = {
        runs: [],
        notes: [],
        skipped: reason ? 'skipped (unavailable)' : unsupported ? `n/a: ${unsupported}` : null,
      };
    }
  }
  const runnable = (c) => systemsByCase(c).filter((s) => !results[c.id][s.id].skipped);
  const runs = Array.from({ length: settings.runs }, (_, run) => run);
  if (batch[0].group) {
    for (const s of new Set(batch.flatMap(runnable))) {
      const mine = batch.filter((c) => runnable(c).includes(s));
      for (const c of mine) await prepareOne(c, s);
      for (const run of runs) {
        for (const c of mine) if (!results[c.id][s.id].skipped) await measureOne(c, s, run);
      }
    }
  } else {
    for (const run of runs) for (const s of runnable(batch[0])) await measureOne(batch[0], s, run);
  }
  for (const c of batch) for (const s of runnable(c)) summarizeRuns(results[c.id][s.id]);
}

finish(0);

// A case's untimed setup for one system. If it fails, the case's runs for that
// system are skipped with the reason, as when a run fails.
async function prepareOne(c, s) {
  if (!c.prepare) return;
  const entry = results[c.id][s.id];
  try {
    const note = await c.prepare(s);
    if (note) log(`${c.id} ${s.id}: ${note}`);
  } catch (err) {
    const message = String(err?.message ?? err).split('\n')[0].slice(0, 200);
    entry.notes.push(`error: ${message}`);
    entry.skipped = 'failed';
    log(`${c.id} ${s.id}: prepare ERROR ${message}`);
  }
}

async function measureOne(c, s, run) {
  const entry = results[c.id][s.id];
  try {
    const r = await c.measure(s, run);
    entry.runs.push(r);
    if (r.note) entry.notes.push(r.note);
    log(`${c.id} ${s.id} run ${run + 1}/${settings.runs}: ${describe(r, c.unit)}`);
  } catch (err) {
    const message = String(err?.message ?? err).split('\n')[0].slice(0, 200);
    entry.notes.push(`error: ${message}`);
    log(`${c.id} ${s.id} run ${run + 1}/${settings.runs}: ERROR ${message}`);
  }
}

function summarizeRuns(entry) {
  if (entry.runs.length === 0) {
    entry.skipped = 'failed';
    return;
  }
  entry.median = {};
  for (const k of MEDIAN_KEYS) entry.median[k] = median(entry.runs.map((r) => r[k]));
  entry.notes = [...new Set(entry.notes)];
}

function describe(r, unit) {
  const parts = [];
  if (Number.isFinite(r.throughput)) parts.push(`${Math.round(r.throughput)} ${unit}`);
  if (Number.isFinite(r.p50)) parts.push(`p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99?.toFixed(2)} ms`);
  if (Number.isFinite(r.walBytesPerTask)) parts.push(`WAL ${Math.round(r.walBytesPerTask)} B/task`);
  if (r.note) parts.push(`[${r.note}${r.tasks === undefined ? '' : `: ${r.settled}/${r.tasks} settled`}]`);
  return parts.join(', ');
}

function finish(code) {
  const targets = checkTargets(results);
  const done = cases.filter((c) => results[c.id]);
  const wal = renderWal(done, systemsByCase, results);
  const walPart = wal ? `\n\nPostgreSQL write-ahead log per processed task (medians):\n\n${wal}` : '';
  console.log(`\n${renderTable(done, systemsByCase, results)}${walPart}\n\nTargets (ratios from this run):\n\n${renderTargets(targets)}\n`);
  const out = resolve(HERE, settings.out);
  mkdirSync(dirname(out), { recursive: true });
  const report = {
    meta: meta(),
    cases: done.map(({ id, title, unit, metric, workload }) => ({ id, title, unit, metric, workload })),
    systems: [BARE, ...systems].map(({ id, label, kind }) => ({ id, label, kind, unavailable: unavailable[id] ?? null })),
    results,
    targets,
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${out}`);
  // Some clients keep sockets or timers; the run is over, so exit explicitly.
  process.exit(code);
}

function meta() {
  const version = (pkg) => {
    try {
      return JSON.parse(readFileSync(join(HERE, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  };
  return {
    startedAt: startedAt.toISOString(),
    seconds: Math.round((nowMs() - t0) / 1000),
    machine: {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? null,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
    },
    versions: Object.fromEntries(['bullmq', 'pg-boss', 'graphile-worker', 'fastify', 'autocannon', 'ioredis', 'pg'].map((p) => [p, version(p)])),
    settings,
  };
}
