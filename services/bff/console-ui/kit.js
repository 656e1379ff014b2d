// Shared by every page of the console: the session's facts, DOM building (text only), the API client.
export const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
export const CSRF = meta('csrf-token');
export const BOUND_TENANT = meta('zm-tenant');
export const SCOPES = meta('zm-scopes').split(' ').filter(Boolean);
export const main = document.getElementById('main');
const status = document.getElementById('status');
/** The page's mutable state: the chosen tenant, and how to stop the current page's timers. */
export const state = {
  tenant: BOUND_TENANT || sessionStorage.getItem('zm-tenant') || '',
  stopPage: () => {},
  /** Counts navigations: a page whose data arrives after the user moved on must not draw over the new one. */
  generation: 0,
};
/** el('p', { class: 'x' }, 'text', child) — attributes by setAttribute, strings as text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return node;
}

export const say = (text) => {
  status.textContent = text;
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = CSRF;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/console/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : {};
  if (res.status === 401) {
    location.assign(`/console/login?returnTo=${encodeURIComponent('/console/')}`);
    throw new ApiError(401, answer);
  }
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

export const t = (path) => `/tenants/${encodeURIComponent(state.tenant)}${path}`;
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

export function table(columns, rows, caption) {
  return el(
    'table',
    {},
    el('caption', {}, caption),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        columns.map((c) => el('th', { scope: 'col' }, c.label)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.length === 0
        ? el('tr', {}, el('td', { colspan: columns.length }, 'Nothing yet.'))
        : rows.map((r) =>
            el(
              'tr',
              {},
              columns.map((c) => el('td', {}, c.cell(r))),
            ),
          ),
    ),
  );
}

export function field(label, input) {
  return el('label', {}, el('span', {}, label), input);
}

/** A form whose submit runs `action(formData)`; failures are shown in the form's alert. */
export function form(name, fields, submitLabel, action) {
  const alert = el('p', { role: 'alert', class: 'alert' });
  const f = el('form', { 'aria-label': name }, fields, el('button', { type: 'submit' }, submitLabel), alert);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.textContent = '';
    try {
      await action(new FormData(f));
    } catch (err) {
      alert.textContent = `Refused: ${err.message}`;
    }
  });
  return f;
}

/** A secret shown exactly once: it lives in this element only and is gone on the next render. */
export const once = (label, value) =>
  el(
    'div',
    { class: 'once', role: 'alert' },
    el('p', {}, `${label} (shown once, copy it now):`),
    el('code', { class: 'secret' }, value),
  );

export function page(title, ...content) {
  main.replaceChildren(el('h1', {}, title), ...content.flat());
  main.focus();
}

export function errorBox(err) {
  if (err.status === 403)
    return el('p', { role: 'alert', class: 'alert' }, 'Forbidden: this is not yours to see.');
  if (err.status === 404) return el('p', { role: 'alert', class: 'alert' }, 'Not found.');
  return el('p', { role: 'alert', class: 'alert' }, `Failed: ${err.message}`);
}

export async function render(title, draw) {
  if (!state.tenant) {
    page(title, el('p', {}, 'Choose a tenant first.'));
    return;
  }
  try {
    await draw();
  } catch (err) {
    if (err.status !== 401) page(title, errorBox(err));
  }
}
