// Dashboard: seats of every feature, what expires soon, and the health of
// the server and its cluster.
import { get } from '../api.js';
import { h, table, act, fmtTime } from '../ui.js';

const DAY = 86400000;

// bar draws seats in use, free and queued (and borrowed, when the API
// gives it) as one meter with a text that says the same.
function bar(f) {
  const borrowed = f.borrowed || 0;
  const total = f.unlimited ? Math.max(f.in_use, 1) : Math.max(f.seats, f.in_use, 1);
  const free = f.unlimited ? null : Math.max(f.seats - f.in_use, 0);
  const text = f.unlimited ? `${f.in_use} in use (unlimited)` :
    `${f.in_use} of ${f.seats} in use, ${free} free` + (f.queued ? `, ${f.queued} queued` : '') + (borrowed ? `, ${borrowed} borrowed` : '');
  const seg = (cls, n) => n > 0 && h('span', { class: 'seg ' + cls, style: null, dataset: { n: String(n) } });
  const meter = h('div', { class: 'bar', role: 'meter', 'aria-label': f.name + ' seats', 'aria-valuemin': '0',
    'aria-valuemax': String(total), 'aria-valuenow': String(f.in_use), 'aria-valuetext': text },
  seg('used', f.in_use - borrowed), seg('borrowed', borrowed), seg('free', free || 0));
  // widths go through the CSSOM: the policy forbids inline style attributes
  for (const s of meter.children) s.style.width = (100 * Number(s.dataset.n) / total) + '%';
  return h('div', {}, meter, h('p', { class: 'bartext' }, text));
}

function warnings(features) {
  const out = [];
  const now = Date.now();
  for (const f of features) {
    if (f.state !== 'active') out.push(`${f.name}: ${f.state.replaceAll('_', ' ')}`);
    if (f.expires_at) {
      const left = Date.parse(f.expires_at) - now;
      if (left > 0 && left < 30 * DAY) out.push(`${f.name} expires in ${Math.ceil(left / DAY)} days (${fmtTime(f.expires_at)})`);
    }
    const c = f.consumption;
    if (c && !c.overage_unlimited && c.remaining <= Math.max(1, c.limit / 10)) {
      out.push(`${f.name}: ${c.remaining} of ${c.limit} units left this ${c.period || 'period'}`);
    }
    if (f.hardware_key === 'absent') out.push(`${f.name}: the hardware key is absent`);
    if (f.queued) out.push(`${f.name}: ${f.queued} waiting for a seat`);
  }
  return out;
}

// licenseWarnings names the licenses whose subscription or renewal
// (technical expiry) ends within 30 days.
function licenseWarnings(licenses) {
  const out = [];
  const now = Date.now();
  for (const l of licenses) {
    const t = l.technical_expiry;
    if (t && Date.parse(t) - now < 30 * DAY) out.push(`license ${l.id} (${l.licensee}) must be renewed by ${fmtTime(t)}`);
    if (l.activated_at === null && l.features.some((g) => g.subscription)) out.push(`license ${l.id}: subscription not activated yet`);
  }
  return out;
}

function consumption(c) {
  if (!c) return '';
  const ends = c.period_ends_at ? ', period ends ' + fmtTime(c.period_ends_at) : '';
  return h('p', { class: 'hint' }, `Consumption: ${c.used} of ${c.limit} used, ${c.remaining} left${ends}`);
}

function featureCards(features) {
  return h('div', { class: 'grid' }, features.map((f) => h('article', { class: 'card feature', dataset: { feature: f.name } },
    h('h3', {}, f.name), bar(f), consumption(f.consumption),
    h('p', { class: 'hint' }, 'State: ' + f.state.replaceAll('_', ' '),
      f.expires_at ? ' · expires ' + fmtTime(f.expires_at) : '',
      f.hardware_key ? ' · hardware key ' + f.hardware_key : ''))));
}

function health(hz, info, cl) {
  const items = [['Node answering', hz ? hz.node || '—' : 'unreachable']];
  if (info) {
    items.push(['Version', info.version], ['Host', info.hostname], ['Up', info.uptime],
      ['Hardware key', info.hardware_key || 'none']);
  }
  if (cl) items.push(['Cluster', cl.cluster], ['Deciding node', cl.decider || 'none'], ['etcd leader', cl.etcd_leader]);
  return h('dl', { class: 'facts' }, items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '—')]));
}

function members(cl) {
  return table('Cluster members', ['Name', 'Healthy', 'Leader', 'Lag', 'Error'], (cl.members || []).map((m) =>
    h('tr', {}, h('td', {}, m.name), h('td', {}, m.healthy ? 'yes' : 'NO'), h('td', {}, m.leader ? 'yes' : ''),
      h('td', {}, String(m.lag)), h('td', {}, m.error || ''))));
}

export function render(ctx) {
  const el = h('section', { 'aria-labelledby': 'h-dash' }, h('h1', { id: 'h-dash' }, 'Dashboard'), h('p', {}, 'Loading…'));
  async function load() {
    const [feat, lics, hz, info, cl] = await Promise.all([
      act(() => get('/v1/features')), get('/v1/licenses').catch(() => null), get('/healthz').catch(() => null),
      get('/v1/admin/info').catch(() => null), ctx.admin ? get('/v1/cluster').catch(() => null) : null]);
    const features = (feat && feat.features) || [];
    const warn = warnings(features).concat(licenseWarnings((lics && lics.licenses) || []));
    el.replaceChildren(h('h1', { id: 'h-dash' }, 'Dashboard'),
      h('section', { 'aria-labelledby': 'h-warn' }, h('h2', { id: 'h-warn' }, 'Warnings'),
        warn.length ? h('ul', { class: 'warnings' }, warn.map((w) => h('li', {}, w))) : h('p', { class: 'hint' }, 'None.')),
      h('section', { 'aria-labelledby': 'h-seats' }, h('h2', { id: 'h-seats' }, 'Seats'),
        features.length ? featureCards(features) : h('p', { class: 'hint' }, 'No feature is licensed: add a license on the Licenses page.')),
      h('section', { 'aria-labelledby': 'h-health' }, h('h2', { id: 'h-health' }, 'Server'), health(hz, info, cl),
        cl && members(cl)));
  }
  load();
  const unsub = ctx.stream.subscribe((ev) => { if (/^(lease_|license_|checkout_|hardware_key)/.test(ev.type)) schedule(); });
  let pending = 0;
  function schedule() { if (!pending) pending = setTimeout(() => { pending = 0; load(); }, 300); }
  const timer = setInterval(load, 10000);
  return { el, stop() { clearInterval(timer); clearTimeout(pending); unsub(); } };
}
