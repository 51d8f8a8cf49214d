import type { Attempt, HistoryEvent, MessageRecord } from '../../types.ts';
import type { Viewer } from '../auth.ts';
import { type Html, html } from '../html.ts';
import { bodyText, duration, json, stateBadge, time } from './format.ts';
import { csrfField } from './layout.ts';
import { queuePath, queueUrl } from './queue.ts';

export interface MessageView {
  m: MessageRecord;
  viewer: Viewer;
  pollMs: number;
  /** The edited body to show again when an edit was refused. */
  editedBody?: string;
}

const ACTIVE = new Set(['scheduled', 'queued', 'running']);

/**
 * One task: facts, dead-letter reason, actions, body and result, and a timeline of attempts and
 * history events (resubmits, cancels, dead-letter rules). Re-fetched by htmx while the task can
 * still change, so a resubmitted task is seen running and completing without a reload.
 */
export function messageBody(v: MessageView): Html {
  const { m } = v;
  const live = ACTIVE.has(m.state);
  return html`<section id="message" ${live ? html`hx-get="/dashboard/messages/${m.id}" hx-trigger="every ${v.pollMs}ms" hx-swap="outerHTML"` : ''}>
<p><a href="${queueUrl(m.name, { state: m.state })}">« ${m.name}: ${m.state} messages</a></p>
<h1>Task <span class="mono">${m.id}</span> <span id="status">${stateBadge(m.state)}</span></h1>
${facts(m)}
${m.deadLetterReason ? deadLetter(m) : ''}
${actions(v)}
<h2>Body</h2>
<pre id="body">${bodyText(m.body)}</pre>
${m.result !== undefined ? html`<h2>Result</h2><pre id="result">${json(m.result)}</pre>` : ''}
${rules(m.history)}
<h2>Timeline</h2>
${timeline(m)}
</section>`;
}

function facts(m: MessageRecord): Html {
  const rows: [string, Html | string][] = [
    ['Task', html`<a href="${queuePath(m.name)}">${m.name}</a>`],
    ['Status', m.state],
    ['Enqueued', time(m.enqueuedAt)],
  ];
  if (m.state === 'scheduled') rows.push(['Next attempt', time(m.visibleAt)]);
  rows.push(['Deliveries', String(m.deliveryCount)]);
  if (m.lockedBy) rows.push(['Running on', m.lockedBy], ['Lock until', time(m.lockedUntil)]);
  if (m.completedAt) rows.push(['Completed', time(m.completedAt)]);
  if (m.deadLetteredAt) rows.push(['Dead-lettered', time(m.deadLetteredAt)]);
  if (m.expiresAt) rows.push(['Expires (TTL)', time(m.expiresAt)]);
  if (m.idempotencyKey) rows.push(['Idempotency key', m.idempotencyKey]);
  if (m.traceparent) rows.push(['Trace parent', m.traceparent]);
  if (m.progress !== undefined) rows.push(['Progress', json(m.progress)]);
  return html`<dl class="facts" id="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

function deadLetter(m: MessageRecord): Html {
  return html`<div class="panel dead" id="deadletter" role="note">
<strong>Dead-lettered: <span id="dl-reason">${m.deadLetterReason}</span></strong>
${m.deadLetterErrorDescription ? html`<pre id="dl-description">${m.deadLetterErrorDescription}</pre>` : ''}
</div>`;
}

function actions(v: MessageView): Html {
  const { m, viewer } = v;
  const base = `/dashboard/messages/${m.id}`;
  if (m.state === 'deadlettered') {
    const editable = m.body.kind === 'json';
    return html`<div class="panel" id="actions">
<form method="post" action="${base}/resubmit" class="inline">${csrfField(viewer)}
  <button type="submit" id="resubmit">Resubmit</button></form>
<span class="muted">Puts the task back on its queue with the same id; its history is kept.</span>
${
  editable
    ? html`<details ${v.editedBody !== undefined ? 'open' : ''}><summary>Edit the body and resubmit</summary>
<form method="post" action="${base}/resubmit">${csrfField(viewer)}
  <label for="edit-body">Body (JSON)</label>
  <textarea id="edit-body" name="body" spellcheck="false">${v.editedBody ?? bodyText(m.body)}</textarea>
  <button type="submit" id="resubmit-edited">Resubmit with this body</button>
</form></details>`
    : ''
}
</div>`;
  }
  if (m.state === 'scheduled' || m.state === 'queued') {
    return html`<div class="panel" id="actions">
<form method="post" action="${base}/cancel" class="inline">${csrfField(viewer)}
  <button type="submit" class="danger" id="cancel">Cancel this task</button></form>
<span class="muted">Moves it to the dead letters as Cancelled; it can be resubmitted later.</span>
</div>`;
  }
  return html``;
}

type Entry = { at: number; attempt: Attempt } | { at: number; event: HistoryEvent };

function timeline(m: MessageRecord): Html {
  const entries: Entry[] = [
    ...m.attempts.map((a) => ({ at: a.startedAt, attempt: a })),
    ...m.history.map((e) => ({ at: e.at, event: e })),
  ].sort((a, b) => a.at - b.at);
  if (entries.length === 0) return html`<p class="muted" id="timeline">No attempts yet.</p>`;
  return html`<ol class="timeline" id="timeline">${entries.map((e) => ('attempt' in e ? attempt(e.attempt) : event(e.event)))}</ol>`;
}

function attempt(a: Attempt): Html {
  const e = a.error;
  return html`<li class="${e ? 'fail' : 'ok'}" data-attempt="${a.number}">
<strong>Attempt ${a.number}</strong> — ${e ? 'failed' : 'succeeded'} after ${duration(a.endedAt - a.startedAt)}
<span class="muted">· ${time(a.startedAt)}${a.worker ? html` · on ${a.worker}` : ''}</span>
${
  e
    ? html`<div class="alert" data-error>${e.name}: ${e.message}</div>
${e.stack ? html`<details><summary>Stack</summary><pre>${e.stack}</pre></details>` : ''}`
    : ''
}
</li>`;
}

const EVENT_TITLES: Record<string, string> = {
  resubmitted: 'Resubmitted',
  cancelled: 'Cancelled',
  'rule.matched': 'Dead-letter rule matched',
  'rule.unmatched': 'No dead-letter rule matched',
  'rule.action': 'Rule action',
  'rule.handled': 'Rule handled',
};

function event(e: HistoryEvent): Html {
  const rule = typeof e.data.rule === 'string' ? e.data.rule : null;
  const title = EVENT_TITLES[e.type] ?? e.type;
  const fields = Object.entries(e.data).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return html`<li class="event" data-event="${e.type}">
<strong>${title}</strong>${rule ? html` · rule <span class="mono">${rule}</span>` : ''} <span class="muted">· ${time(e.at)}</span>
${fields.length ? html`<dl class="facts">${fields.map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${typeof v === 'string' ? v : JSON.stringify(v)}</dd>`)}</dl>` : ''}
</li>`;
}

const RULE_EVENTS: Record<string, string> = {
  'rule.matched': 'matched',
  'rule.unmatched': 'no rule matched',
  'rule.action': 'action',
  'rule.handled': 'handled',
};

const str = (v: unknown) =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);

/** What a rule event says was (or will be) done. */
function ruleAction(e: HistoryEvent): string {
  const d = e.data;
  if (e.type === 'rule.matched' && Array.isArray(d.actions)) return d.actions.map(str).join('; ') || '—';
  if (e.type === 'rule.action')
    return `${str(d.type)}${typeof d.action === 'number' ? ` (then[${d.action}])` : ''}`;
  return str(d.action) || '—';
}

/** How it went: an action's status and error or detail, a rule's mode. */
function ruleOutcome(e: HistoryEvent): string {
  const d = e.data;
  const status = str(d.status ?? d.outcome ?? d.result);
  const more = d.error ? `: ${str(d.error)}` : d.detail ? `: ${str(d.detail).slice(0, 300)}` : '';
  const retry = d.willRetry ? ' (will retry)' : '';
  if (status) return `${status}${more}${retry}`;
  if (d.mode) return `${e.type === 'rule.handled' ? 'handled, ' : ''}mode ${str(d.mode)}`;
  return more.slice(2) || '—';
}

/** Dead-letter rules that took this task and what their actions did, from the history. */
function rules(history: HistoryEvent[]): Html {
  const hits = history.filter((e) => e.type.startsWith('rule.') || typeof e.data.rule === 'string');
  if (hits.length === 0) return html``;
  return html`<h2>Dead-letter rules</h2><div class="table-wrap"><table id="rules">
<thead><tr><th scope="col">When</th><th scope="col">Rule</th><th scope="col">Event</th><th scope="col">Action</th><th scope="col">Outcome</th></tr></thead>
<tbody>${hits.map(
    (e) => html`<tr data-rule-event="${e.type}" class="${e.data.status === 'failed' ? 'alert' : ''}">
<td>${time(e.at)}</td><td class="mono">${str(e.data.rule) || '—'}</td><td>${RULE_EVENTS[e.type] ?? e.type}</td>
<td>${ruleAction(e)}</td><td>${ruleOutcome(e)}</td></tr>`,
  )}</tbody></table></div>`;
}
