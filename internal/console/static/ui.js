// Small DOM helpers: elements are built with text nodes only, so nothing
// the server sends is ever parsed as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// field returns a labelled control: a label wrapping its text and input.
export function field(label, input) {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

export function status(msg, isError) {
  const el = document.getElementById('status');
  el.textContent = msg || '';
  el.classList.toggle('error', !!isError);
  if (msg) {
    clearTimeout(status.t);
    status.t = setTimeout(() => { el.textContent = ''; }, isError ? 10000 : 4000);
  }
}

// confirm asks with the page's modal dialog and resolves true on Confirm.
export function confirm(text, okLabel) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
  });
}

// act runs fn, reports its error in the status line, and returns its
// result or undefined.
export async function act(fn, done) {
  try {
    const r = await fn();
    if (done) status(done);
    return r;
  } catch (e) {
    status(e.message, true);
    return undefined;
  }
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

// table returns a table with a caption, column heads and rows of cells.
export function table(caption, heads, rows, attrs) {
  return h('div', { class: 'scroll' }, h('table', attrs || {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, heads.map((x) => (x instanceof Node ? h('th', { scope: 'col' }, x) : h('th', { scope: 'col' }, x))))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: heads.length, class: 'empty' }, 'None')))));
}

export function csv(rows) {
  return rows.map((r) => r.map((c) => {
    const s = String(c ?? '');
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }).join(',')).join('\n') + '\n';
}

// download offers text as a file.
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type: type || 'text/csv' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
