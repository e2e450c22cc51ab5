// Sessions: the live leases, filtered and sorted; an admin kicks one, or
// every lease of a user or host, after confirming.
import { get, request } from '../api.js';
import { h, field, table, act, confirm, status, fmtAge, fmtTime } from '../ui.js';

const sorts = {
  age: (a, b) => a.issued_at.localeCompare(b.issued_at),
  feature: (a, b) => a.feature.localeCompare(b.feature),
  user: (a, b) => (a.client.user || '').localeCompare(b.client.user || ''),
  host: (a, b) => (a.client.host || '').localeCompare(b.client.host || ''),
};

function matches(l, q) {
  if (!q) return true;
  q = q.toLowerCase();
  return [l.feature, l.client.user, l.client.host, l.client.id, l.id].some((v) => (v || '').toLowerCase().includes(q));
}

async function kick(body, what) {
  if (!(await confirm('Kick ' + what + '? The application loses its seat at once.', 'Kick'))) return false;
  const r = await act(() => request('POST', '/v1/admin/kick', body));
  if (r) status('Kicked ' + r.kicked.length + ' lease' + (r.kicked.length === 1 ? '' : 's'));
  return !!r;
}

export function render(ctx) {
  let leases = [];
  let shown = '';
  const filter = h('input', { type: 'search', name: 'filter', placeholder: 'feature, user, host…' });
  const sort = h('select', { name: 'sort' },
    h('option', { value: 'age' }, 'Age (oldest first)'), h('option', { value: 'feature' }, 'Feature'),
    h('option', { value: 'user' }, 'User'), h('option', { value: 'host' }, 'Host'));
  const holder = h('div', {});
  const count = h('p', { class: 'hint', 'aria-live': 'polite' });

  function row(l) {
    const kickBtn = ctx.admin && h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await kick({ lease_id: l.id }, 'the lease of ' + (l.client.user || l.client.id) + ' on ' + l.feature)) load();
    } }, 'Kick');
    return h('tr', { dataset: { lease: l.id } },
      h('td', {}, l.feature), h('td', {}, l.client.user || '—'), h('td', {}, l.client.host || '—'),
      h('td', {}, l.client.id), h('td', { title: fmtTime(l.issued_at), dataset: { issued: l.issued_at } }, fmtAge(Date.now() - Date.parse(l.issued_at))),
      h('td', {}, fmtTime(l.expires_at)), ctx.admin && h('td', {}, kickBtn));
  }

  function draw(force) {
    const rows = leases.filter((l) => matches(l, filter.value)).sort(sorts[sort.value]);
    const key = JSON.stringify([rows.map((l) => [l.id, l.expires_at]), filter.value, sort.value]);
    if (!force && key === shown) {
      // Only the ages change: update them in place, so that the focus
      // stays where the keyboard left it.
      for (const td of holder.querySelectorAll('td[data-issued]')) td.textContent = fmtAge(Date.now() - Date.parse(td.dataset.issued));
      return;
    }
    shown = key;
    const heads = ['Feature', 'User', 'Host', 'Client', 'Age', 'Expires (UTC)'];
    if (ctx.admin) heads.push('Action');
    holder.replaceChildren(table('Live sessions', heads, rows.map(row), { id: 'sessions' }));
    count.textContent = rows.length + ' of ' + leases.length + ' sessions shown';
  }

  const line = h('div', {});
  let lineShown = '';
  async function load() {
    const [r, q] = await Promise.all([act(() => get('/v1/leases')), get('/v1/queue').catch(() => null)]);
    if (!r) return;
    leases = r.leases || [];
    draw();
    const waiters = (q && q.waiters) || [];
    const key = JSON.stringify(waiters);
    if (key === lineShown) return;
    lineShown = key;
    line.replaceChildren(waiters.length ? table('Waiting in line', ['Feature', 'Position', 'User', 'Host', 'Since (UTC)'],
      waiters.map((w) => h('tr', {}, h('td', {}, w.feature), h('td', {}, String(w.position)), h('td', {}, w.client.user || '—'),
        h('td', {}, w.client.host || '—'), h('td', {}, fmtTime(w.since))))) : '');
  }

  filter.addEventListener('input', () => draw(true));
  sort.addEventListener('change', () => draw(true));
  const tools = [field('Filter', filter), field('Sort by', sort)];
  let bulk = null;
  if (ctx.admin) {
    const kind = h('select', { name: 'kind' }, h('option', { value: 'user' }, 'user'), h('option', { value: 'host' }, 'host'));
    const name = h('input', { name: 'who', required: true });
    bulk = h('form', { class: 'row', onsubmit: async (e) => {
      e.preventDefault();
      if (await kick({ [kind.value]: name.value }, 'every lease of ' + kind.value + ' ' + name.value)) load();
    } }, field('Kick all of', kind), field('Name', name), h('button', { type: 'submit', class: 'danger' }, 'Kick all'));
  }
  const unsub = ctx.stream.subscribe((ev) => { if (ev.type.startsWith('lease_')) load(); });
  const timer = setInterval(load, 1000);
  load();
  return {
    el: h('section', { 'aria-labelledby': 'h-sessions' }, h('h1', { id: 'h-sessions' }, 'Sessions'),
      h('div', { class: 'row' }, tools), bulk, count, holder, line),
    stop() { clearInterval(timer); unsub(); },
  };
}
