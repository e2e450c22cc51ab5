// Events: the live feed of the server's events, filtered by type.
import { get } from '../api.js';
import { h, field, act, fmtTime } from '../ui.js';

const GROUPS = {
  Leases: ['lease_granted', 'lease_released', 'lease_expired', 'lease_kicked'],
  Denials: ['checkout_denied'],
  Licenses: ['license_added', 'license_removed', 'license_in_use_elsewhere', 'license_served_again'],
  Server: ['server_started', 'server_stopped', 'config_changed', 'hardware_key_removed', 'hardware_key_inserted'],
  Security: ['login_failed', 'rate_limited', 'password_changed', 'password_change_failed'],
};
const MAX = 500;

function groupOf(type) {
  for (const [g, types] of Object.entries(GROUPS)) if (types.includes(type)) return g;
  return 'Other';
}

function describe(ev) {
  const c = ev.client || {};
  const who = [c.user, c.host && '@' + c.host, c.id && '(' + c.id + ')'].filter(Boolean).join(' ');
  return [ev.feature, who, ev.license_id, ev.lease_id, ev.reason].filter(Boolean).join(' · ');
}

export function render(ctx) {
  const boxes = {};
  const list = h('ol', { class: 'feed', id: 'feed', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const seen = new Set();
  const checks = Object.keys(GROUPS).concat('Other').map((g) => {
    boxes[g] = h('input', { type: 'checkbox', checked: true, name: 'type-' + g.toLowerCase() });
    boxes[g].addEventListener('change', apply);
    return h('label', { class: 'check' }, boxes[g], ' ' + g);
  });
  function item(ev) {
    const g = groupOf(ev.type);
    return h('li', { class: 'ev ' + g.toLowerCase(), dataset: { type: ev.type, group: g, id: String(ev.id) }, hidden: !boxes[g].checked },
      h('time', { datetime: ev.time }, fmtTime(ev.time)), ' ', h('strong', {}, ev.type), ' ', describe(ev));
  }
  function add(ev, atEnd) {
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    const li = item(ev);
    if (atEnd) list.append(li); else list.prepend(li);
    while (list.children.length > MAX) list.lastElementChild.remove();
  }
  function apply() {
    for (const li of list.children) li.hidden = !boxes[li.dataset.group].checked;
  }
  act(async () => {
    const r = await get('/v1/events?limit=100');
    for (const ev of (r.events || []).reverse()) add(ev, true);
  });
  const unsub = ctx.stream.subscribe((ev) => add(ev, false));
  return {
    el: h('section', { 'aria-labelledby': 'h-events' }, h('h1', { id: 'h-events' }, 'Events'),
      h('fieldset', { class: 'row' }, h('legend', {}, 'Show types'), checks),
      field('Search', h('input', { type: 'search', name: 'search', oninput: (e) => {
        const q = e.target.value.toLowerCase();
        for (const li of list.children) li.classList.toggle('nomatch', q !== '' && !li.textContent.toLowerCase().includes(q));
      } })),
      h('p', { class: 'hint' }, 'Newest first; new events appear as they happen.'), list),
    stop: unsub,
  };
}
