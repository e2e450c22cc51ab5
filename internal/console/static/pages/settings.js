// Settings: the runtime settings, users, API tokens, your own password,
// and the policy editor with its dry run. A monitor sees them read-only.
import { get, request } from '../api.js';
import { h, field, table, act, confirm, status, fmtTime } from '../ui.js';

const ROLES = ['admin', 'monitor', 'client'];
const roleSelect = (name) => h('select', { name }, ROLES.map((r) => h('option', { value: r, selected: r === 'monitor' }, r)));

function settingsSection(ctx) {
  const box = h('div', {});
  async function load() {
    const r = await act(() => get('/v1/admin/settings'));
    if (!r) return;
    box.replaceChildren(table('Runtime settings', ['Key', 'Value', 'Source'], r.settings.map((s) => {
      if (!ctx.admin) return h('tr', {}, h('td', {}, s.key), h('td', {}, s.value), h('td', {}, s.source));
      const input = h('input', { name: s.key, value: s.value, 'aria-label': s.key });
      const save = h('button', { type: 'button', onclick: async () => {
        if (await act(() => request('PATCH', '/v1/admin/settings', { set: { [s.key]: input.value } }), `Set ${s.key}`)) load();
      } }, 'Save');
      const reset = h('button', { type: 'button', 'aria-label': 'Reset ' + s.key, onclick: async () => {
        if (await act(() => request('PATCH', '/v1/admin/settings', { reset: [s.key] }), `Reset ${s.key}`)) load();
      } }, 'Reset');
      save.setAttribute('aria-label', 'Save ' + s.key);
      return h('tr', {}, h('td', {}, s.key), h('td', {}, input), h('td', {}, s.source, ' ', save, ' ', reset));
    })));
  }
  load();
  return h('section', { 'aria-labelledby': 'h-set' }, h('h2', { id: 'h-set' }, 'Runtime settings'), box);
}

function usersSection() {
  const box = h('div', {});
  async function load() {
    const r = await act(() => get('/v1/users'));
    if (!r) return;
    box.replaceChildren(table('Users', ['Name', 'Role', 'Created (UTC)', 'Action'], r.users.map((u) => h('tr', {},
      h('td', {}, u.name), h('td', {}, u.role), h('td', {}, fmtTime(u.created_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': 'Remove user ' + u.name, onclick: async () => {
        if (!(await confirm(`Remove user ${u.name}? Their logins end.`, 'Remove'))) return;
        if ((await act(() => request('DELETE', '/v1/users/' + encodeURIComponent(u.name)), 'Removed ' + u.name)) !== undefined) load();
      } }, 'Remove'))))));
  }
  const name = h('input', { name: 'new-user', required: true, autocomplete: 'off' });
  const pass = h('input', { name: 'new-password', type: 'password', required: true, autocomplete: 'new-password' });
  const role = roleSelect('new-role');
  const add = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    if (await act(() => request('POST', '/v1/users', { username: name.value, password: pass.value, role: role.value }), 'Added ' + name.value)) {
      add.reset();
      load();
    }
  } }, field('New user name', name), field('New user password', pass), field('Role', role), h('button', { type: 'submit' }, 'Add user'));
  load();
  return h('section', { 'aria-labelledby': 'h-users' }, h('h2', { id: 'h-users' }, 'Users'), box, add);
}

function tokensSection() {
  const box = h('div', {});
  const shown = h('p', { class: 'secret', 'aria-live': 'polite' });
  async function load() {
    const r = await act(() => get('/v1/tokens'));
    if (!r) return;
    box.replaceChildren(table('API tokens', ['Name', 'ID', 'Role', 'Created (UTC)', 'Action'], r.tokens.map((t) => h('tr', {},
      h('td', {}, t.name), h('td', {}, t.id), h('td', {}, t.role), h('td', {}, fmtTime(t.created_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke token ' + t.name, onclick: async () => {
        if (!(await confirm(`Revoke token ${t.name}? Programs using it are refused at once.`, 'Revoke'))) return;
        if ((await act(() => request('DELETE', '/v1/tokens/' + encodeURIComponent(t.id)), 'Revoked ' + t.name)) !== undefined) load();
      } }, 'Revoke'))))));
  }
  const name = h('input', { name: 'token-name', required: true, autocomplete: 'off' });
  const role = roleSelect('token-role');
  const add = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    const t = await act(() => request('POST', '/v1/tokens', { name: name.value, role: role.value }));
    if (t) {
      shown.textContent = `Token ${t.name}: ${t.token} (shown once: copy it now)`;
      add.reset();
      load();
    }
  } }, field('Token name', name), field('Token role', role), h('button', { type: 'submit' }, 'Create token'));
  load();
  return h('section', { 'aria-labelledby': 'h-tokens' }, h('h2', { id: 'h-tokens' }, 'API tokens'), box, add, shown);
}

function passwordSection() {
  const old = h('input', { name: 'old-password', type: 'password', required: true, autocomplete: 'current-password' });
  const nw = h('input', { name: 'new-own-password', type: 'password', required: true, autocomplete: 'new-password' });
  const form = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    if ((await act(() => request('PUT', '/v1/users/me/password', { old_password: old.value, new_password: nw.value }), 'Password changed')) !== undefined) form.reset();
  } }, field('Current password', old), field('New password', nw), h('button', { type: 'submit' }, 'Change password'));
  return h('section', { 'aria-labelledby': 'h-pw' }, h('h2', { id: 'h-pw' }, 'Your password'),
    h('p', { class: 'hint' }, 'For a user that logged in with a name and password.'), form);
}

function policySection(ctx) {
  const text = h('textarea', { name: 'policy', rows: '14', spellcheck: 'false', readonly: !ctx.admin });
  const source = h('p', { class: 'hint' });
  const since = h('input', { name: 'since', value: '24h', size: '6' });
  const out = h('div', { id: 'policy-check', 'aria-live': 'polite' });
  async function load() {
    const r = await act(() => get('/v1/policy'));
    if (!r) return;
    text.value = r.policy;
    source.textContent = `In force from: ${r.source}. Rules: ${(r.rules || []).join(', ') || 'none'}.`;
  }
  async function check() {
    const r = await act(() => request('POST', '/v1/policy/check', { policy: text.value, since: since.value }));
    if (!r) return;
    out.replaceChildren(h('p', {}, `Replayed ${r.checked} checkouts: ${r.denials.length} would be refused.`),
      table('Checkouts this policy would refuse', ['Time (UTC)', 'Source', 'Feature', 'User', 'Host', 'Rule'], r.denials.map((d) => h('tr', {},
        h('td', {}, fmtTime(d.time)), h('td', {}, d.source), h('td', {}, d.feature), h('td', {}, d.client.user || ''),
        h('td', {}, d.client.host || ''), h('td', {}, d.rule)))));
  }
  async function save() {
    if (!(await confirm('Put this policy in force now?', 'Save policy'))) return;
    const r = await act(() => request('PUT', '/v1/policy', new Blob([text.value], { type: 'text/plain' })));
    if (r) { status(`Policy saved: added ${(r.added || []).length}, removed ${(r.removed || []).length} rules`); load(); }
  }
  load();
  const actions = ctx.admin ? h('div', { class: 'row' }, field('Replay the last', since),
    h('button', { type: 'button', onclick: check }, 'Check (dry run)'), h('button', { type: 'button', onclick: save }, 'Save policy')) : '';
  return h('section', { 'aria-labelledby': 'h-pol' }, h('h2', { id: 'h-pol' }, 'Policy'), source,
    field('Policy (TOML, see docs/policies.md)', text), actions, out);
}

export function render(ctx) {
  const parts = [h('h1', { id: 'h-settings' }, 'Settings'), settingsSection(ctx)];
  if (ctx.admin) parts.push(usersSection(), tokensSection());
  parts.push(passwordSection(), policySection(ctx));
  return { el: h('section', { 'aria-labelledby': 'h-settings' }, parts) };
}
