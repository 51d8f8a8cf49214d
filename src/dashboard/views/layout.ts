import { assetUrl } from '../assets.ts';
import { CSRF_FIELD, CSRF_HEADER, type Viewer } from '../auth.ts';
import { type Html, html, raw } from '../html.ts';

/**
 * htmx settings: no eval (the CSP forbids it anyway), no inline indicator styles, and no copy
 * of pages in localStorage (bodies and results are not kept in the browser); the back button
 * reloads instead.
 */
const HTMX_CONFIG = JSON.stringify({
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
});

export interface PageOptions {
  title: string;
  viewer: Viewer | null;
  body: Html;
  /** Task names for the navigation bar. */
  tasks?: string[];
  /** The active task in the navigation. */
  current?: string;
  notice?: Html | null;
}

/** A whole page: head, navigation, a live region for action results, and the content. */
export function page(o: PageOptions): string {
  const csrf = o.viewer?.csrf ?? null;
  const headers = csrf ? JSON.stringify({ [CSRF_HEADER]: csrf }) : null;
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Taskbus</title>
${csrf ? html`<meta name="csrf-token" content="${csrf}">` : ''}
<meta name="htmx-config" content="${HTMX_CONFIG}">
<link rel="icon" type="image/svg+xml" href="${assetUrl('icon.svg')}">
<link rel="stylesheet" href="${assetUrl('dashboard.css')}">
<script src="${assetUrl('htmx.min.js')}" defer></script>
<script src="${assetUrl('dashboard.js')}" defer></script>
</head>
<body hx-boost="true">
<div id="app" ${headers ? html`hx-headers="${headers}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
${o.viewer ? nav(o) : ''}
<main id="main" tabindex="-1">
<div id="notice" role="status" aria-live="polite">${o.notice ?? ''}</div>
${o.body}
</main>
</div>
</body>
</html>`}`;
}

function nav(o: PageOptions): Html {
  return html`<header class="top">
  <a class="brand" href="/">Taskbus</a>
  <nav aria-label="Task types">
    <a href="/" ${o.current === undefined ? raw('aria-current="page"') : ''}>Overview</a>
    ${(o.tasks ?? []).map(
      (t) =>
        html`<a href="/dashboard/tasks/${encodeURIComponent(t)}" ${o.current === t ? raw('aria-current="page"') : ''}>${t}</a>`,
    )}
  </nav>
  ${
    o.viewer?.via === 'session'
      ? html`<form method="post" action="/dashboard/logout" hx-boost="false" class="inline">
    ${csrfField(o.viewer)}<button type="submit" class="secondary">Log out</button></form>`
      : ''
  }
</header>`;
}

/** The hidden CSRF field every form carries (htmx also sends it as a header). */
export function csrfField(viewer: Viewer | null): Html {
  return viewer?.csrf ? html`<input type="hidden" name="${CSRF_FIELD}" value="${viewer.csrf}">` : html``;
}

/** A success notice. */
export function ok(text: string): Html {
  return html`<div class="notice">${text}</div>`;
}

/** A failure notice. */
export function failed(text: string): Html {
  return html`<div class="notice error" role="alert">${text}</div>`;
}
