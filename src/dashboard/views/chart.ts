import { type Series, sum } from '../data.ts';
import { type Html, html, raw } from '../html.ts';
import { num, percent } from './format.ts';

const BAR = 4;
const HEIGHT = 40;

/**
 * The last hour as an inline SVG bar chart, one bar per minute: completions in green with
 * failed attempts stacked on top in red. No client code: the overview re-renders it.
 */
export function chart(s: Series, o: { big?: boolean } = {}): Html {
  const n = s.completed.length;
  const max = Math.max(1, ...s.completed.map((c, i) => c + s.failed[i]));
  const scale = (v: number) => (v / max) * (HEIGHT - 2);
  const bars: string[] = [];
  for (let i = 0; i < n; i++) {
    const ok = scale(s.completed[i]);
    const bad = scale(s.failed[i]);
    const x = i * BAR;
    if (ok > 0) bars.push(`<rect class="ok" x="${x}" y="${HEIGHT - ok}" width="${BAR - 1}" height="${ok}"/>`);
    if (bad > 0)
      bars.push(`<rect class="bad" x="${x}" y="${HEIGHT - ok - bad}" width="${BAR - 1}" height="${bad}"/>`);
  }
  const label = summary(s);
  return html`<svg class="chart${o.big ? ' big' : ''}" viewBox="0 0 ${n * BAR} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${label}"><title>${label}</title><line class="base" x1="0" y1="${HEIGHT - 0.5}" x2="${n * BAR}" y2="${HEIGHT - 0.5}"/>${raw(bars.join(''))}</svg>`;
}

/** "Last hour: 120 completed, 3 failed attempts (2.4%), 1 dead-lettered". */
export function summary(s: Series): string {
  const c = sum(s.completed);
  const f = sum(s.failed);
  return `Last hour: ${num(c)} completed, ${num(f)} failed attempts (${percent(f, c + f)}), ${num(sum(s.deadlettered))} dead-lettered`;
}
