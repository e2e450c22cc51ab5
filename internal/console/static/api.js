// The HTTP API v1, with the credential of whoever logged in. The token
// lives in sessionStorage: it ends with the tab, and is sent only as a
// bearer header, never as a cookie, so no other site can send it.

const KEY = 'usher.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// request sends method path with body (an object is sent as JSON, a string
// or Blob as it is) and returns the decoded answer, or null for 204.
export async function request(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = 'Bearer ' + token();
  let data = body;
  if (body !== undefined && typeof body === 'object' && !(body instanceof Blob)) {
    headers['Content-Type'] = 'application/json';
    data = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: data, cache: 'no-store' });
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (res.status === 401 && token()) {
    // The token expired or was revoked: the console logs out.
    window.dispatchEvent(new Event('usher:unauthorized'));
  }
  if (!res.ok) {
    const e = json || {};
    throw new APIError(res.status, e.code || String(res.status), e.message || text || res.statusText);
  }
  return json;
}

export const get = (p) => request('GET', p);

// login exchanges a user name and password for a token.
export async function login(username, password) {
  const r = await request('POST', '/v1/auth/login', { username, password });
  setToken(r.token);
  return r;
}

// role finds what the credential may do: admin, monitor, or '' if none.
// A client credential may only check out: the console refuses it.
export async function role() {
  try { await get('/v1/users'); return 'admin'; } catch (e) {
    if (e.status === 401) return '';
    if (e.status !== 403) throw e;
  }
  try { await get('/v1/leases'); return 'monitor'; } catch (e) {
    if (e.status === 401) return '';
    if (e.status !== 403) throw e;
  }
  throw new APIError(403, 'forbidden', 'this credential may only check out (role client): log in as a monitor or an admin to use the console');
}

// EventStream follows GET /v1/events/stream with fetch, so that the bearer
// header goes with it (EventSource cannot send one), and reconnects with
// Last-Event-ID after a drop.
export class EventStream {
  constructor() { this.listeners = new Set(); this.last = 0; this.ctrl = null; this.stopped = true; }
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  start() { if (!this.stopped) return; this.stopped = false; this.loop(); }
  stop() { this.stopped = true; if (this.ctrl) this.ctrl.abort(); }
  async loop() {
    let delay = 500;
    while (!this.stopped) {
      try { await this.once(); delay = 500; } catch { /* reconnect below */ }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  async once() {
    this.ctrl = new AbortController();
    const headers = { Authorization: 'Bearer ' + token() };
    if (this.last) headers['Last-Event-ID'] = String(this.last);
    const res = await fetch('/v1/events/stream', { headers, signal: this.ctrl.signal, cache: 'no-store' });
    if (!res.ok || !res.body) throw new Error('event stream: ' + res.status);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        this.dispatch(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  }
  dispatch(block) {
    let id = 0, type = 'message', data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = Number(line.slice(3).trim());
      else if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data || type !== 'message') return;
    if (id) this.last = id;
    let ev;
    try { ev = JSON.parse(data); } catch { return; }
    for (const fn of this.listeners) fn(ev);
  }
}
