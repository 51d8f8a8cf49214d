import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { HIDDEN } from './reply.ts';

/**
 * The dashboard's static files. CSS and the few lines of client code live here as strings so
 * the compiled package needs no asset copying; htmx is served from the installed `htmx.org`.
 */
export const ASSET_PATH = '/dashboard/assets';

const CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --muted: #5b6470; --line: #d9dde3;
  --panel: #f5f7f9; --accent: #2459c9; --ok: #1f7a3a; --bad: #b42318; --warn: #a15c00; --focus: #ffbf47; }
@media (prefers-color-scheme: dark) { :root { --bg: #14171b; --fg: #e6e8eb; --muted: #9aa3ad;
  --line: #2c323a; --panel: #1c2127; --accent: #7aa7ff; --ok: #5fcf80; --bad: #ff7b72; --warn: #e3a440; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 9; }
header.top { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; padding: 10px 16px; border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.top nav { display: flex; gap: 12px; flex-wrap: wrap; flex: 1; }
main { padding: 16px; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 0 0 12px; } h2 { font-size: 1.1rem; margin: 24px 0 8px; }
.muted { color: var(--muted); } .mono, code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
pre { background: var(--panel); border: 1px solid var(--line); padding: 10px; overflow: auto; max-height: 420px; white-space: pre-wrap; word-break: break-word; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .v { font-size: 1.5rem; font-weight: 700; } .card.alert { border-color: var(--bad); color: var(--bad); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 13px; color: var(--muted); font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.s-completed { color: var(--ok); } .s-deadlettered, .alert { color: var(--bad); font-weight: 700; }
.s-running { color: var(--accent); } .s-scheduled, .s-queued { color: var(--warn); }
.chart { width: 100%; max-width: 260px; height: 36px; display: block; } .chart.big { max-width: none; height: 80px; }
.chart .ok { fill: var(--ok); } .chart .bad { fill: var(--bad); } .chart .base { stroke: var(--line); }
.tabs { display: flex; gap: 4px; flex-wrap: wrap; margin: 8px 0 12px; padding: 0; list-style: none; }
.tabs a { display: block; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; text-decoration: none; }
.tabs a[aria-current="page"] { background: var(--accent); color: var(--bg); border-color: var(--accent); }
form.inline { display: inline; } .row { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin: 8px 0; }
label { display: block; font-size: 13px; color: var(--muted); }
input[type=text], input[type=search], input[type=password], select, textarea { font: inherit; padding: 6px 8px;
  border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); min-width: 0; }
textarea { width: 100%; min-height: 180px; font-family: ui-monospace, monospace; font-size: 13px; }
button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--bg); cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); } button.danger { background: var(--bad); border-color: var(--bad); }
.notice { padding: 8px 12px; border-radius: 6px; margin: 0 0 12px; border: 1px solid var(--ok); color: var(--ok); }
.notice.error { border-color: var(--bad); color: var(--bad); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin: 12px 0; }
.panel.dead { border-color: var(--bad); } figure.panel { margin: 0 0 16px; } caption { text-align: left; padding: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-word; }
ol.timeline { list-style: none; padding: 0; margin: 0; border-left: 3px solid var(--line); }
ol.timeline > li { position: relative; padding: 4px 0 12px 16px; }
ol.timeline > li::before { content: ""; position: absolute; left: -8px; top: 9px; width: 13px; height: 13px; border-radius: 50%; background: var(--muted); }
ol.timeline > li.ok::before { background: var(--ok); } ol.timeline > li.fail::before { background: var(--bad); }
ol.timeline > li.event::before { background: var(--accent); }
.pager { display: flex; gap: 12px; margin: 12px 0; }
.login { max-width: 380px; margin: 10vh auto; } .login input { width: 100%; margin: 4px 0 12px; }
@media (max-width: 640px) {
  main { padding: 10px; } th, td { padding: 5px 4px; }
  /* Tables become one card per row: a label above each value, wide cells on their own line. */
  table.stack-sm thead { display: none; }
  table.stack-sm tr { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 6px 10px; padding: 10px 0; border-bottom: 1px solid var(--line); }
  table.stack-sm th[scope=row], table.stack-sm td.wide { grid-column: 1 / -1; }
  table.stack-sm td, table.stack-sm th { border: 0; padding: 0; text-align: left; word-break: break-all; }
  table.stack-sm td[data-label]::before { content: attr(data-label); display: block; font-size: 12px; color: var(--muted); }
  .chart { max-width: none; }
}
`;

/**
 * Client code, on purpose tiny: htmx does the requests (with the CSRF header from hx-headers);
 * this shows refused actions, lets HTML error pages swap in, and toggles every checkbox.
 */
const JS = `
(function () {
  function notice(text, network) {
    var n = document.getElementById('notice');
    if (!n) return;
    var d = document.createElement('div');
    d.className = 'notice error';
    d.setAttribute('role', 'alert');
    if (network) d.setAttribute('data-network', '');
    d.textContent = text;
    n.replaceChildren(d);
  }
  document.addEventListener('htmx:beforeSwap', function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status < 400) return;
    var type = xhr.getResponseHeader('content-type') || '';
    if (type.indexOf('text/html') === 0) { e.detail.shouldSwap = true; e.detail.isError = false; return; }
    var detail = xhr.statusText;
    try { var p = JSON.parse(xhr.responseText); detail = p.detail || p.title || detail; } catch (err) {}
    var refused = xhr.status === 401 || xhr.status === 403;
    notice((refused ? 'Refused (' : 'Failed (') + xhr.status + '): ' + detail, !refused);
  });
  document.addEventListener('htmx:sendError', function () { notice('The server did not answer; retrying.', true); });
  // A live refresh that works again clears a connection or server error it had shown.
  document.addEventListener('htmx:afterRequest', function (e) {
    if (!e.detail.successful) return;
    var stale = document.querySelector('#notice [data-network]');
    if (stale) stale.remove();
  });
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (!t.matches || !t.matches('input[data-select-all]')) return;
    var boxes = t.form.querySelectorAll('input[name="ids"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = t.checked;
  });
})();
`;

/** A small icon, so browsers do not ask for /favicon.ico. */
const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2459c9"/>' +
  '<path d="M4 5h8M4 8h8M4 11h5" stroke="#fff" stroke-width="1.6" stroke-linecap="round"/></svg>';

const require = createRequire(import.meta.url);
const htmxVersion: string = require('htmx.org/package.json').version;
const VERSION = createHash('sha256')
  .update(CSS)
  .update(JS)
  .update(ICON)
  .update(htmxVersion)
  .digest('hex')
  .slice(0, 10);

/** An asset's URL, versioned so a new release is never served from a stale cache. */
export function assetUrl(file: 'dashboard.css' | 'dashboard.js' | 'htmx.min.js' | 'icon.svg'): string {
  return `${ASSET_PATH}/${file}?v=${VERSION}`;
}

let htmx: Promise<Buffer> | null = null;

/** Serves the CSS, the client code and htmx; long-cached (the URLs change with the version). */
export function assetRoutes(app: FastifyInstance): void {
  const cache = 'public, max-age=86400';
  app.get(`${ASSET_PATH}/dashboard.css`, HIDDEN, (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', cache).send(CSS),
  );
  app.get(`${ASSET_PATH}/dashboard.js`, HIDDEN, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', cache).send(JS),
  );
  app.get(`${ASSET_PATH}/icon.svg`, HIDDEN, (_req, reply) =>
    reply.type('image/svg+xml').header('cache-control', cache).send(ICON),
  );
  app.get(`${ASSET_PATH}/htmx.min.js`, HIDDEN, async (_req, reply) => {
    htmx ??= readFile(require.resolve('htmx.org/dist/htmx.min.js'));
    return reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', cache)
      .send(await htmx);
  });
}
