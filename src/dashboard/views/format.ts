import type { MessageState, StoredBody } from '../../types.ts';
import { type Html, html } from '../html.ts';

/** A time as `2026-01-01 12:00:05 UTC` in a <time> element (machine-readable ISO inside). */
export function time(ms: number | null | undefined): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">—</span>`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** A duration for people: 850 ms, 12 s, 4 min 5 s, 3 h 20 min, 2 d 4 h. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function num(n: number): string {
  return n.toLocaleString('en-US');
}

export function percent(part: number, whole: number): string {
  if (whole === 0) return '—';
  const p = (100 * part) / whole;
  return `${p < 10 && p > 0 ? p.toFixed(1) : Math.round(p)}%`;
}

export function stateBadge(state: MessageState): Html {
  return html`<span class="badge s-${state}">${state}</span>`;
}

const TEXT_TYPE = /^(text\/|application\/(xml|x-www-form-urlencoded)|[^;]*\+xml)/i;

/** A body as text: JSON pretty-printed, text types decoded, other bytes described. */
export function bodyText(body: StoredBody, pretty = true): string {
  if (body.kind === 'json') {
    if (!pretty) return body.json;
    try {
      return JSON.stringify(JSON.parse(body.json), null, 2);
    } catch {
      return body.json;
    }
  }
  if (TEXT_TYPE.test(body.contentType)) return body.bytes.toString('utf8');
  return `(${body.contentType}, ${plural(body.bytes.length, 'byte')})`;
}

/** The first `max` characters of a body on one line, for lists. */
export function bodyPreview(body: StoredBody, max = 100): string {
  const t = bodyText(body, false).replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Any JSON value as indented text. */
export function json(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}
