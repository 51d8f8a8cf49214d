import { MESSAGE_STATES, type MessageRecord, type MessageState, type QueueCounts } from '../../types.ts';
import type { Viewer } from '../auth.ts';
import { type ListPage, type ListQuery, SCAN_LIMIT } from '../data.ts';
import { type Html, html, query } from '../html.ts';
import { bodyPreview, duration, num, time } from './format.ts';
import { csrfField } from './layout.ts';

export interface QueueView {
  name: string;
  description: string | null;
  counts: QueueCounts;
  list: ListQuery;
  page: ListPage;
  viewer: Viewer;
  now: number;
  pollMs: number;
}

export const queuePath = (name: string) => `/dashboard/tasks/${encodeURIComponent(name)}`;

/** The URL of a queue page with the given list settings (defaults left out). */
export function queueUrl(name: string, l: Partial<ListQuery>): string {
  return `${queuePath(name)}${query({
    state: l.state,
    q: l.q,
    order: l.order === 'oldest' ? 'oldest' : undefined,
    cursor: l.cursor,
  })}`;
}

/** A queue's messages in one state: tabs, search, sort, paging and the actions for the state. */
export function queueBody(v: QueueView): Html {
  const { name, list, page } = v;
  const dlq = list.state === 'deadlettered';
  const searching = list.q.trim() !== '';
  return html`<h1>${name} <span class="muted">messages</span></h1>
${v.description ? html`<p class="muted">${v.description}</p>` : ''}
${tabs(v)}
<form method="get" action="${queuePath(name)}" class="row" role="search">
  <input type="hidden" name="state" value="${list.state}">
  <div><label for="q">Search by id, body text${dlq ? ' or reason' : ''}</label>
  <input type="search" id="q" name="q" value="${list.q}" placeholder="e.g. invoice-42"></div>
  <div><label for="order">Sort by enqueue time</label>
  <select id="order" name="order">
    <option value="newest" ${list.order === 'newest' ? 'selected' : ''}>Newest first</option>
    <option value="oldest" ${list.order === 'oldest' ? 'selected' : ''}>Oldest first</option>
  </select></div>
  <button type="submit">Search</button>
  ${searching || list.order === 'oldest' ? html`<a href="${queueUrl(name, { state: list.state })}">Clear</a>` : ''}
</form>
${
  page.truncated
    ? html`<p class="muted" id="truncated">Looked at the newest ${num(SCAN_LIMIT)} ${list.state} messages only; narrow the search to see older ones.</p>`
    : ''
}
${dlq ? deadLetterActions(v) : ''}
${dlq ? html`<form id="bulk" method="post" action="${queuePath(name)}/resubmit">${csrfField(v.viewer)}<input type="hidden" name="mode" value="selected">${table(v)}${bulkButtons(v)}</form>` : table(v)}
<nav class="pager" aria-label="Pages">
  ${list.cursor ? html`<a href="${queueUrl(name, { ...list, cursor: null })}">« First page</a>` : ''}
  ${page.nextCursor ? html`<a id="next-page" href="${queueUrl(name, { ...list, cursor: page.nextCursor })}">Next page »</a>` : ''}
</nav>`;
}

/** State tabs with live counts (re-fetched by htmx). */
export function tabs(v: Pick<QueueView, 'name' | 'counts' | 'list' | 'pollMs'>): Html {
  const url = queueUrl(v.name, v.list);
  return html`<nav id="tabs" aria-label="States" hx-get="${url}" hx-trigger="every ${v.pollMs}ms" hx-swap="outerHTML">
<ul class="tabs">${MESSAGE_STATES.map(
    (s) =>
      html`<li><a id="tab-${s}" href="${queueUrl(v.name, { state: s, q: v.list.q })}" ${s === v.list.state ? html`aria-current="page"` : ''} class="${s === 'deadlettered' && v.counts[s] > 0 ? 'alert' : ''}">${s} <span data-count>${num(v.counts[s])}</span></a></li>`,
  )}</ul></nav>`;
}

const COLUMN: Record<MessageState, string> = {
  scheduled: 'Visible at',
  queued: 'Waiting',
  running: 'Worker',
  completed: 'Completed at',
  deadlettered: 'Reason',
};

function table(v: QueueView): Html {
  const { list, page } = v;
  const dlq = list.state === 'deadlettered';
  if (page.items.length === 0) {
    return html`<p class="muted" id="empty">No ${list.state} messages${list.q.trim() ? html` match “${list.q}”` : ''}.</p>`;
  }
  const flip = queueUrl(v.name, {
    ...list,
    cursor: null,
    order: list.order === 'newest' ? 'oldest' : 'newest',
  });
  return html`<div class="table-wrap"><table id="messages" class="stack-sm">
<thead><tr>
${dlq ? html`<th scope="col"><input type="checkbox" data-select-all aria-label="Select every message on this page"></th>` : ''}
<th scope="col">Id</th>
<th scope="col" aria-sort="${list.order === 'newest' ? 'descending' : 'ascending'}"><a href="${flip}">Enqueued ${list.order === 'newest' ? '↓' : '↑'}</a></th>
<th scope="col" class="n">Deliveries</th><th scope="col">${COLUMN[list.state]}</th><th scope="col">Body</th>
${list.state === 'scheduled' || list.state === 'queued' ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}
</tr></thead>
<tbody>${page.items.map((m) => row(v, m))}</tbody></table></div>`;
}

function row(v: QueueView, m: MessageRecord): Html {
  const dlq = v.list.state === 'deadlettered';
  const cancellable = v.list.state === 'scheduled' || v.list.state === 'queued';
  return html`<tr data-id="${m.id}">
${dlq ? html`<td><input type="checkbox" name="ids" value="${m.id}" aria-label="Select ${m.id}"></td>` : ''}
<td class="mono wide"><a href="/dashboard/messages/${m.id}">${m.id}</a></td>
<td data-label="enqueued">${time(m.enqueuedAt)}</td>
<td class="n" data-label="deliveries">${m.deliveryCount}</td>
<td data-label="${COLUMN[v.list.state].toLowerCase()}">${stateColumn(v, m)}</td>
<td class="mono wide" data-label="body">${bodyPreview(m.body)}</td>
${
  cancellable
    ? html`<td><form method="post" action="/dashboard/messages/${m.id}/cancel" class="inline">${csrfField(v.viewer)}
<input type="hidden" name="next" value="${queueUrl(v.name, v.list)}"><button type="submit" class="secondary" aria-label="Cancel ${m.id}">Cancel</button></form></td>`
    : ''
}
</tr>`;
}

function stateColumn(v: QueueView, m: MessageRecord): Html | string {
  switch (v.list.state) {
    case 'scheduled':
      return time(m.visibleAt);
    case 'queued':
      return duration(v.now - m.enqueuedAt);
    case 'running':
      return m.lockedBy ?? '—';
    case 'completed':
      return time(m.completedAt);
    case 'deadlettered':
      return html`<span class="alert">${m.deadLetterReason ?? '—'}</span><div class="muted">${time(m.deadLetteredAt)}</div>`;
  }
}

function bulkButtons(v: QueueView): Html {
  if (v.page.items.length === 0) return html``;
  return html`<div class="row">
  <button type="submit" id="resubmit-selected">Resubmit selected</button>
  <div><label for="confirm-selected">Type ${v.name} to purge the selected</label>
  <input type="text" id="confirm-selected" name="confirm" autocomplete="off" spellcheck="false"></div>
  <button type="submit" class="danger" formaction="${queuePath(v.name)}/purge" id="purge-selected">Purge selected</button>
</div>`;
}

function deadLetterActions(v: QueueView): Html {
  const n = v.counts.deadlettered;
  if (n === 0) return html``;
  const q = v.list.q.trim();
  return html`<div class="panel row">
<form method="post" action="${queuePath(v.name)}/resubmit" class="inline">${csrfField(v.viewer)}
  <input type="hidden" name="mode" value="filter"><input type="hidden" name="q" value="${q}">
  <button type="submit" id="resubmit-filter">${q ? `Resubmit every dead letter matching “${q}”` : `Resubmit all ${num(n)} dead letters`}</button>
</form>
<form method="post" action="${queuePath(v.name)}/purge" class="row">${csrfField(v.viewer)}
  <input type="hidden" name="mode" value="all">
  <div><label for="confirm-all">Type ${v.name} to purge all ${num(n)}</label>
  <input type="text" id="confirm-all" name="confirm" autocomplete="off" spellcheck="false" required></div>
  <button type="submit" class="danger" id="purge-all">Purge all</button>
</form>
</div>`;
}
