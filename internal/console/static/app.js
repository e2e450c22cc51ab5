// The console: login, navigation and the pages. Each page module exports
// render(ctx), returning its element and, optionally, a stop function
// called when the page is left.
import * as api from './api.js';
import { h, field, status } from './ui.js';
import * as dashboard from './pages/dashboard.js';
import * as sessions from './pages/sessions.js';
import * as events from './pages/events.js';
import * as usage from './pages/usage.js';
import * as licenses from './pages/licenses.js';
import * as settings from './pages/settings.js';

const pages = { dashboard, sessions, events, usage, licenses, settings };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const ctx = { role: '', admin: false, stream: new api.EventStream() };
let current = null;

function show(el) {
  if (current && current.stop) current.stop();
  current = null;
  main.replaceChildren(el);
}

function loginPage() {
  nav.hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const tok = h('input', { name: 'token', type: 'password', autocomplete: 'off', required: true });
  const err = h('p', { class: 'error', role: 'alert' });
  const fail = (e) => { err.textContent = e.message; };
  const login = h('form', { class: 'card', 'aria-labelledby': 'login-title', onsubmit: async (e) => {
    e.preventDefault();
    try { await api.login(user.value, pass.value); await enter(); } catch (x) { fail(x); }
  } }, h('h1', { id: 'login-title' }, 'Log in'),
  field('User name', user), field('Password', pass), h('button', { type: 'submit' }, 'Log in'));
  const withToken = h('form', { class: 'card', 'aria-labelledby': 'token-title', onsubmit: async (e) => {
    e.preventDefault();
    api.setToken(tok.value.trim());
    try { await enter(); } catch (x) { fail(x); }
  } }, h('h2', { id: 'token-title' }, 'Or use a token'),
  h('p', { class: 'hint' }, 'The server\'s admin token (admin.token in its data directory) or an API token.'),
  field('Token', tok), h('button', { type: 'submit' }, 'Use token'));
  show(h('section', { class: 'login' }, login, err, withToken));
  user.focus();
}

// enter finds the credential's role and opens the page in the address.
async function enter() {
  let role;
  try { role = await api.role(); } catch (e) { api.setToken(''); throw e; }
  if (!role) {
    api.setToken('');
    throw new Error('the credential was refused: log in again');
  }
  ctx.role = role;
  ctx.admin = role === 'admin';
  document.body.dataset.role = role;
  document.getElementById('who').textContent = role === 'admin' ? 'admin' : 'monitor (read-only)';
  document.getElementById('logout').hidden = false;
  nav.hidden = false;
  ctx.stream.start();
  if (!location.hash || location.hash === '#/login') location.hash = '#/dashboard';
  else route();
}

function route() {
  if (!api.token() || !ctx.role) { loginPage(); return; }
  const name = (location.hash.replace(/^#\//, '').split('?')[0]) || 'dashboard';
  const page = pages[name] || dashboard;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const r = page.render(ctx);
  show(r.el);
  current = r;
  document.title = name[0].toUpperCase() + name.slice(1) + ' · Usher console';
  main.focus({ preventScroll: true });
}

function logout() {
  ctx.stream.stop();
  ctx.stream = new api.EventStream();
  ctx.role = '';
  api.setToken('');
  delete document.body.dataset.role;
  location.hash = '#/login';
  loginPage();
}

// A refused token (it expired, or was revoked) sends the user back to the
// login page.
window.addEventListener('usher:unauthorized', () => {
  if (!ctx.role) return;
  logout();
  status('Your login ended: log in again', true);
});
window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', logout);

if (api.token()) enter().catch((e) => { status(e.message, true); loginPage(); });
else loginPage();
