// A small SVG chart: per step, a line of peak seats in use and bars of
// denials. The points are also in the figure's data-points attribute (as
// JSON) and in a table, for tests, for screen readers and for export.
import { h, fmtTime } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 240, PAD = 40;

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

// chart returns a figure for points [{time, peak, denials}] between from
// and to (ms). onZoom(from, to) is called when a range is dragged over.
export function chart(title, points, from, to, onZoom) {
  const max = Math.max(1, ...points.map((p) => Math.max(p.peak, p.denials)));
  const x = (t) => PAD + ((t - from) / Math.max(1, to - from)) * (W - 2 * PAD);
  const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: peak seats in use and denials over time`, class: 'chart' });
  svg.append(s('line', { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, class: 'axis' }),
    s('line', { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD, class: 'axis' }),
    s('text', { x: PAD - 4, y: PAD + 4, class: 'tick', 'text-anchor': 'end' }, max),
    s('text', { x: PAD - 4, y: H - PAD, class: 'tick', 'text-anchor': 'end' }, 0),
    s('text', { x: PAD, y: H - 12, class: 'tick' }, fmtTime(from)),
    s('text', { x: W - PAD, y: H - 12, class: 'tick', 'text-anchor': 'end' }, fmtTime(to)));
  const bw = Math.max(2, (W - 2 * PAD) / Math.max(points.length, 60) * 0.6);
  for (const p of points) {
    if (p.denials > 0) {
      svg.append(s('rect', { x: x(p.t) - bw / 2, y: y(p.denials), width: bw, height: H - PAD - y(p.denials), class: 'denials' }));
    }
  }
  if (points.length) {
    const d = points.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p.peak).toFixed(1)).join(' ');
    svg.append(s('path', { d, class: 'peak' }));
    for (const p of points) svg.append(s('circle', { cx: x(p.t), cy: y(p.peak), r: 2.5, class: 'peak-dot' }, s('title', {}, `${fmtTime(p.time)}: peak ${p.peak}, denials ${p.denials}`)));
  }
  zoomable(svg, from, to, onZoom);
  const data = points.map((p) => ({ time: p.time, peak: p.peak, denials: p.denials }));
  return h('figure', { class: 'card', dataset: { feature: title, points: JSON.stringify(data) } },
    h('figcaption', {}, h('strong', {}, title), h('span', { class: 'legend' },
      h('span', { class: 'key peak' }), ' peak in use ', h('span', { class: 'key denials' }), ' denials')),
    svg,
    h('details', {}, h('summary', {}, 'Data of ' + title),
      h('div', { class: 'scroll' }, h('table', { class: 'points' }, h('caption', {}, title + ' by step'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time (UTC)'), h('th', { scope: 'col' }, 'Peak in use'), h('th', { scope: 'col' }, 'Denials'))),
        h('tbody', {}, data.map((p) => h('tr', {}, h('td', {}, fmtTime(p.time)), h('td', {}, String(p.peak)), h('td', {}, String(p.denials)))))))));
}

// zoomable lets a pointer drag over svg to pick a narrower range.
function zoomable(svg, from, to, onZoom) {
  if (!onZoom) return;
  let start = null;
  const sel = s('rect', { y: PAD, height: H - 2 * PAD, width: 0, class: 'sel' });
  const at = (e) => {
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * W;
    return Math.min(W - PAD, Math.max(PAD, px));
  };
  const toTime = (px) => from + ((px - PAD) / (W - 2 * PAD)) * (to - from);
  svg.addEventListener('pointerdown', (e) => { start = at(e); sel.setAttribute('x', start); sel.setAttribute('width', 0); svg.append(sel); svg.setPointerCapture(e.pointerId); });
  svg.addEventListener('pointermove', (e) => {
    if (start === null) return;
    const p = at(e);
    sel.setAttribute('x', Math.min(start, p));
    sel.setAttribute('width', Math.abs(p - start));
  });
  svg.addEventListener('pointerup', (e) => {
    if (start === null) return;
    const p = at(e);
    sel.remove();
    const a = Math.min(start, p), b = Math.max(start, p);
    start = null;
    if (b - a > 8) onZoom(toTime(a), toTime(b));
  });
}
