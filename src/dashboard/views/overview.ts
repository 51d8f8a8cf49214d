import { MESSAGE_STATES, type MessageState } from '../../types.ts';
import { type Overview, sum, type TaskOverview } from '../data.ts';
import { type Html, html } from '../html.ts';
import { chart, summary } from './chart.ts';
import { duration, num, percent } from './format.ts';

/** The overview's live part: re-fetched every `pollMs` by htmx and swapped in place. */
export function overviewSection(o: Overview, pollMs: number): Html {
  const total = (k: MessageState) => sum(o.tasks.map((t) => t.counts[k]));
  const dlq = total('deadlettered');
  const oldest = Math.max(-1, ...o.tasks.map((t) => t.oldestAgeMs ?? -1));
  const done = sum(o.total.completed);
  const failed = sum(o.total.failed);
  return html`<section id="overview" hx-get="/" hx-trigger="every ${pollMs}ms" hx-swap="outerHTML" aria-labelledby="overview-title">
<h1 id="overview-title">Overview</h1>
<div class="cards">
  ${card('Queued', num(total('queued')), 'queued')}
  ${card('Running', num(total('running')), 'running')}
  ${card('Scheduled', num(total('scheduled')), 'scheduled')}
  ${card('Dead-lettered', num(dlq), 'deadlettered', dlq > 0)}
  ${card('Completed, last hour', num(done), 'completed-hour')}
  ${card('Failure rate, last hour', percent(failed, done + failed), 'failure-rate')}
  ${card('Oldest queued', oldest < 0 ? '—' : duration(oldest), 'oldest')}
</div>
<figure class="panel">
  ${chart(o.total, { big: true })}
  <figcaption class="muted">${summary(o.total)}. Green: completed per minute; red: failed attempts.</figcaption>
</figure>
<div class="table-wrap">
<table class="stack-sm">
<caption class="muted">Every task type; counts are links to its messages.</caption>
<thead><tr><th scope="col">Task</th>${MESSAGE_STATES.map((s) => html`<th scope="col" class="n">${s}</th>`)}
<th scope="col" class="n">Oldest queued</th><th scope="col">Last hour</th><th scope="col" class="n">Failure rate</th></tr></thead>
<tbody>${o.tasks.map(row)}</tbody>
</table>
</div>
${o.tasks.length === 0 ? html`<p class="muted">No task files are loaded. Add one to the tasks folder and restart.</p>` : ''}
</section>`;
}

function card(label: string, value: string, id: string, alert = false): Html {
  return html`<div class="card${alert ? ' alert' : ''}" id="card-${id}"><div class="muted">${label}</div><div class="v" data-value>${value}</div></div>`;
}

function row(t: TaskOverview): Html {
  const base = `/dashboard/tasks/${encodeURIComponent(t.name)}`;
  const done = sum(t.series.completed);
  const failed = sum(t.series.failed);
  return html`<tr data-task="${t.name}">
<th scope="row"><a id="task-${t.name}" href="${base}">${t.name}</a>${t.description ? html`<div class="muted">${t.description}</div>` : ''}</th>
${MESSAGE_STATES.map((s) => {
  const n = t.counts[s];
  const alert = s === 'deadlettered' && n > 0;
  return html`<td class="n" data-label="${s}"><a id="count-${t.name}-${s}" data-state="${s}" class="${alert ? 'alert' : ''}" href="${base}?state=${s}" aria-label="${t.name}: ${num(n)} ${s}">${num(n)}</a></td>`;
})}
<td class="n" data-label="oldest queued">${t.oldestAgeMs === null ? '—' : duration(t.oldestAgeMs)}</td>
<td class="wide" data-label="last hour">${chart(t.series)}</td>
<td class="n" data-label="failure rate">${percent(failed, done + failed)}</td>
</tr>`;
}
