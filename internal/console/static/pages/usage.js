// Usage: peak seats in use and denials over time per feature, over a
// range from the last hour to the last year (narrowed by dragging over a
// chart), with totals by user and host, and CSV export of what is shown.
import { get } from '../api.js';
import { h, field, table, act, csv, download, fmtTime } from '../ui.js';
import { chart } from '../chart.js';

const H = 3600000;
const RANGES = [
  ['Last hour', H], ['Last 6 hours', 6 * H], ['Last day', 24 * H], ['Last week', 168 * H],
  ['Last 30 days', 720 * H], ['Last year', 8760 * H],
];

// step picks a whole number of minutes giving at most about 120 points.
function step(span) {
  const min = Math.max(1, Math.ceil(span / 120 / 60000));
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080].find((m) => m >= min) || min;
  return nice + 'm';
}

// durationMs reads a Go duration as the server writes a step ("15m0s").
function durationMs(d) {
  let ms = 0;
  for (const [, n, unit] of d.matchAll(/([\d.]+)(h|m|s)/g)) ms += Number(n) * { h: 3600000, m: 60000, s: 1000 }[unit];
  return ms;
}

// fill adds a zero point for every step with none: the server stores no
// step in which a feature had no seat in use, checkout or denial.
function fill(points, from, to, stepMs) {
  if (!stepMs) return points;
  const out = points.slice();
  let i = 0;
  for (let t = Math.floor(from / stepMs) * stepMs; t < to; t += stepMs) {
    while (i < points.length && points[i].t < t) i++;
    if (i < points.length && points[i].t < t + stepMs) continue;
    out.push({ time: new Date(t).toISOString(), t, peak: 0, checkouts: 0, denials: 0 });
  }
  return out.sort((a, b) => a.t - b.t);
}

export function render() {
  let view = null; // {from, to, step, byFeature, by, totals}
  const range = h('select', { name: 'range' }, RANGES.map(([label, ms], i) => h('option', { value: String(ms), selected: i === 2 }, label)));
  const by = h('select', { name: 'by' }, h('option', { value: 'user' }, 'user'), h('option', { value: 'host' }, 'host'), h('option', { value: 'feature' }, 'feature'));
  const reset = h('button', { type: 'button', hidden: true, onclick: () => { reset.hidden = true; load(); } }, 'Reset zoom');
  const exportBtn = h('button', { type: 'button', onclick: exportCSV }, 'Export CSV');
  const charts = h('div', { class: 'charts', id: 'charts' });
  const totals = h('div', {});
  const span = h('p', { class: 'hint', 'aria-live': 'polite' });

  async function load(from, to) {
    to = to || Date.now();
    from = from || to - Number(range.value);
    const q = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const st = step(to - from);
    const [u, t] = await Promise.all([
      act(() => get(`/v1/usage?${q}&step=${st}`)),
      act(() => get(`/v1/usage?${q}&by=${by.value}`))]);
    if (!u) return;
    const byFeature = new Map();
    for (const p of u.usage || []) {
      if (!byFeature.has(p.feature)) byFeature.set(p.feature, []);
      byFeature.get(p.feature).push({ ...p, t: Date.parse(p.time) });
    }
    for (const [f, pts] of byFeature) byFeature.set(f, fill(pts.sort((a, b) => a.t - b.t), from, to, durationMs(u.step)));
    view = { from, to, step: u.step, byFeature, by: by.value, totals: (t && t.totals) || [] };
    draw();
  }

  function zoom(a, b) { reset.hidden = false; load(Math.floor(a), Math.ceil(b)); }

  function draw() {
    span.textContent = `From ${fmtTime(view.from)} to ${fmtTime(view.to)}, one point per ${view.step}. Drag over a chart to zoom in.`;
    const figs = [...view.byFeature.keys()].sort().map((f) => chart(f, view.byFeature.get(f), view.from, view.to, zoom));
    charts.replaceChildren(...(figs.length ? figs : [h('p', { class: 'hint' }, 'No checkout in this range.')]));
    totals.replaceChildren(table(`Totals by ${view.by}`, [view.by, 'Checkouts', 'Denials', 'Kicks', 'Hours held'],
      view.totals.map((r) => h('tr', {}, h('td', {}, r.key || '(none)'), h('td', {}, String(r.checkouts)),
        h('td', {}, String(r.denials)), h('td', {}, String(r.kicks)), h('td', {}, (r.held_seconds / 3600).toFixed(2)))), { id: 'totals' }));
  }

  function exportCSV() {
    if (!view) return;
    const rows = [['feature', 'time', 'peak', 'checkouts', 'denials']];
    for (const [f, pts] of view.byFeature) for (const p of pts) rows.push([f, p.time, p.peak, p.checkouts, p.denials]);
    rows.push([], [view.by, 'checkouts', 'denials', 'kicks', 'held_seconds']);
    for (const r of view.totals) rows.push([r.key, r.checkouts, r.denials, r.kicks, r.held_seconds]);
    download(`usher-usage-${new Date(view.from).toISOString()}.csv`, csv(rows));
  }

  range.addEventListener('change', () => { reset.hidden = true; load(); });
  by.addEventListener('change', () => (view ? load(view.from, view.to) : load()));
  load();
  return {
    el: h('section', { 'aria-labelledby': 'h-usage' }, h('h1', { id: 'h-usage' }, 'Usage'),
      h('div', { class: 'row' }, field('Range', range), field('Totals by', by), reset, exportBtn), span, charts, totals),
  };
}
