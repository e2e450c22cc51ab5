// Licenses: upload (file picker or drag and drop), the list with every
// grant's details, and removal.
import { get, request } from '../api.js';
import { h, field, table, act, confirm, status, fmtTime } from '../ui.js';

const SHOWN = new Set(['name', 'seats', 'unlimited', 'starts_at', 'expires_at']);
const LICENSE_SHOWN = new Set(['id', 'licensee', 'issued_at', 'key_id', 'features']);

// value writes any field the API gives: times as times, lists and objects
// as their JSON.
function value(k, v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string' && /_at$/.test(k)) return fmtTime(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function grants(lic) {
  const extra = [...new Set(lic.features.flatMap((g) => Object.keys(g)).filter((k) => !SHOWN.has(k)))].sort();
  const heads = ['Feature', 'Seats', 'Starts (UTC)', 'Expires (UTC)', ...extra.map((k) => k.replaceAll('_', ' '))];
  return table('Grants of ' + lic.id, heads, lic.features.map((g) => h('tr', {},
    h('td', {}, g.name), h('td', {}, g.unlimited ? 'unlimited' : String(g.seats)),
    h('td', {}, value('starts_at', g.starts_at)), h('td', {}, value('expires_at', g.expires_at)),
    extra.map((k) => h('td', {}, value(k, g[k]))))), { class: 'grants' });
}

function facts(lic) {
  const rows = [['Licensee', lic.licensee], ['Issued', fmtTime(lic.issued_at)], ['Vendor key', lic.key_id]];
  for (const [k, v] of Object.entries(lic)) if (!LICENSE_SHOWN.has(k)) rows.push([k.replaceAll('_', ' '), value(k, v)]);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function render(ctx) {
  const list = h('div', { id: 'licenses' });
  async function load() {
    const r = await act(() => get('/v1/licenses'));
    if (!r) return;
    const cards = (r.licenses || []).map((lic) => h('article', { class: 'card', dataset: { license: lic.id } },
      h('h2', {}, lic.licensee + ' ', h('small', {}, lic.id)), facts(lic), grants(lic),
      ctx.admin && h('button', { type: 'button', class: 'danger', 'aria-label': 'Remove ' + lic.id, onclick: async () => {
        if (!(await confirm(`Remove license ${lic.id} of ${lic.licensee}? Its seats are no longer served; leases held live on until released.`, 'Remove'))) return;
        if (await act(() => request('DELETE', '/v1/licenses/' + encodeURIComponent(lic.id)), 'Removed ' + lic.id)) load();
      } }, 'Remove')));
    const refused = (r.refused || []).map((x) => h('tr', {}, h('td', {}, x.id), h('td', {}, x.code), h('td', {}, x.reason)));
    const released = (r.released || []).map((x) => h('tr', {}, h('td', {}, x.id), h('td', {}, fmtTime(x.released_at))));
    list.replaceChildren(...(cards.length ? cards : [h('p', { class: 'hint' }, 'No license is loaded.')]),
      refused.length ? table('Refused at start', ['License', 'Code', 'Reason'], refused) : '',
      released.length ? table('Released', ['License', 'Released (UTC)'], released) : '');
  }
  async function upload(file) {
    const text = await file.text();
    const lic = await act(() => request('POST', '/v1/licenses', new Blob([text], { type: 'text/plain' })));
    if (lic) { status(`Added ${lic.id} with ${lic.features.map((f) => f.name).join(', ')}`); load(); }
  }
  let up = '';
  if (ctx.admin) {
    const input = h('input', { type: 'file', name: 'license', accept: '.lic,.txt,text/plain' });
    input.addEventListener('change', () => { for (const f of input.files) upload(f); input.value = ''; });
    up = h('div', { class: 'drop', id: 'drop', tabindex: '-1' },
      h('p', {}, 'Drop a license file here, or choose one.'), field('License file', input));
    up.addEventListener('dragover', (e) => { e.preventDefault(); up.classList.add('over'); });
    up.addEventListener('dragleave', () => up.classList.remove('over'));
    up.addEventListener('drop', (e) => {
      e.preventDefault();
      up.classList.remove('over');
      for (const f of e.dataTransfer.files) upload(f);
    });
  }
  const unsub = ctx.stream.subscribe((ev) => { if (ev.type.startsWith('license_')) load(); });
  load();
  return { el: h('section', { 'aria-labelledby': 'h-lic' }, h('h1', { id: 'h-lic' }, 'Licenses'), up, list), stop: unsub };
}
