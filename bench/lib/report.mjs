// Turns the medians into the printed tables (Markdown, so docs/benchmarks.md can
// quote them as they are) and checks the targets. The benchmark reports;
// a missed target is printed as `miss`, never an exit code.

// "vs best peer" is always oriented so that above 1 is better than the best
// peer: throughput ÷ the highest peer throughput, or the lowest peer p50 ÷ p50.
export function ratioToBestPeer(caseDef, caseResults, systems, systemId) {
  const value = caseResults[systemId]?.median?.[caseDef.metric];
  const peers = systems
    .filter((s) => s.kind === 'peer')
    .map((s) => caseResults[s.id]?.median?.[caseDef.metric])
    .filter((v) => Number.isFinite(v) && v > 0);
  if (!Number.isFinite(value) || value <= 0 || peers.length === 0) return null;
  return caseDef.metric === 'p50' ? Math.min(...peers) / value : value / Math.max(...peers);
}

const TARGETS = [
  { label: 'HTTP enqueue, Taskbus SQLite ÷ Fastify+BullMQ', a: ['http', 'taskbus-sqlite'], b: ['http', 'bullmq'], goal: 1.5 },
  { label: 'HTTP enqueue, Taskbus SQLite ÷ bare Fastify', a: ['http', 'taskbus-sqlite'], b: ['http', 'bare'], goal: 0.65 },
  { label: 'HTTP enqueue, Taskbus PostgreSQL ÷ Fastify+pg-boss', a: ['http', 'taskbus-pg'], b: ['http', 'pgboss'], goal: 5 },
  ...[10, 50].flatMap((c) => [
    { label: `Processing c${c}, Taskbus SQLite ÷ BullMQ`, a: [`process-c${c}`, 'taskbus-sqlite'], b: [`process-c${c}`, 'bullmq'], goal: 2 },
    { label: `Processing c${c}, Taskbus PostgreSQL ÷ graphile-worker`, a: [`process-c${c}`, 'taskbus-pg'], b: [`process-c${c}`, 'graphile'], goal: 1.5 },
  ]),
  // Latency targets are "below": the peer's p50 ÷ Taskbus's p50 must exceed 1.
  { label: 'Enqueue→start p50, one process: BullMQ ÷ Taskbus SQLite', a: ['latency-in', 'taskbus-sqlite'], b: ['latency-in', 'bullmq'], goal: 1, metric: 'p50', strict: true },
  { label: 'Enqueue→start p50, two processes: graphile-worker ÷ Taskbus PostgreSQL', a: ['latency-cross', 'taskbus-pg'], b: ['latency-cross', 'graphile'], goal: 1, metric: 'p50', strict: true },
  { label: 'Failure path, Taskbus SQLite ÷ BullMQ', a: ['failure', 'taskbus-sqlite'], b: ['failure', 'bullmq'], goal: 2 },
  { label: 'Failure path, Taskbus PostgreSQL ÷ BullMQ', a: ['failure', 'taskbus-pg'], b: ['failure', 'bullmq'], goal: 2 },
  { label: 'Growth, Taskbus SQLite: retained ÷ empty', a: ['growth-retained', 'taskbus-sqlite'], b: ['growth-empty', 'taskbus-sqlite'], goal: 0.9 },
  { label: 'Growth, Taskbus PostgreSQL: retained ÷ empty', a: ['growth-retained', 'taskbus-pg'], b: ['growth-empty', 'taskbus-pg'], goal: 0.9 },
];

export function checkTargets(results) {
  return TARGETS.map((t) => {
    const metric = t.metric ?? 'throughput';
    const a = results[t.a[0]]?.[t.a[1]]?.median?.[metric];
    const b = results[t.b[0]]?.[t.b[1]]?.median?.[metric];
    let ratio = null;
    if (Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0) ratio = metric === 'p50' ? b / a : a / b;
    const pass = ratio === null ? null : t.strict ? ratio > t.goal : ratio >= t.goal;
    return { label: t.label, goal: `${t.strict ? '>' : '≥'} ${t.goal}`, ratio, status: pass === null ? 'n/a' : pass ? 'pass' : 'miss' };
  });
}

const fmt = (v, digits = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';
const ms = (v) => (Number.isFinite(v) ? (v < 10 ? fmt(v, 2) : v < 100 ? fmt(v, 1) : fmt(v, 0)) : '—');
// Three significant digits, so 0.895 is not shown as a passing-looking 0.90.
const times = (r) => (Number.isFinite(r) ? `${r < 0.01 ? '<0.01' : r.toPrecision(3)}×` : '—');

export function renderTable(cases, systemsByCase, results) {
  const lines = [
    '| Workload | System | Throughput | p50 ms | p95 ms | p99 ms | vs best peer |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const c of cases) {
    const caseResults = results[c.id] ?? {};
    for (const s of systemsByCase(c)) {
      const r = caseResults[s.id];
      if (!r) continue;
      const m = r.median ?? {};
      const throughput = r.skipped ? r.skipped : Number.isFinite(m.throughput) ? `${fmt(m.throughput)} ${c.unit}` : '—';
      const ratio = s.kind === 'ceiling' ? '(ceiling)' : times(ratioToBestPeer(c, caseResults, systemsByCase(c), s.id));
      const note = r.notes?.length ? ` (${r.notes.join('; ')})` : '';
      lines.push(`| ${c.title} | ${s.label}${note} | ${throughput} | ${ms(m.p50)} | ${ms(m.p95)} | ${ms(m.p99)} | ${r.skipped ? '—' : ratio} |`);
    }
  }
  return lines.join('\n');
}

export function renderTargets(targets) {
  const lines = ['| Target | Goal | Measured | Result |', '|---|---:|---:|---|'];
  for (const t of targets) lines.push(`| ${t.label} | ${t.goal} | ${times(t.ratio)} | ${t.status} |`);
  return lines.join('\n');
}

// WAL bytes per task for the cases that measured it (PostgreSQL systems), or ''
// when none did.
export function renderWal(cases, systemsByCase, results) {
  const lines = ['| Workload | System | WAL per task |', '|---|---|---:|'];
  for (const c of cases) {
    for (const s of systemsByCase(c)) {
      const v = results[c.id]?.[s.id]?.median?.walBytesPerTask;
      if (Number.isFinite(v)) lines.push(`| ${c.title} | ${s.label} | ${fmt(v)} B |`);
    }
  }
  return lines.length > 2 ? lines.join('\n') : '';
}
