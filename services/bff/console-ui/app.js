// The Zen Mesh console's browser half: plain ES module, no dependencies, no build step. It draws every page
// from /console/api/v1 (the /api/v1 handlers, under the signed-in user's own token) with DOM APIs and
// textContent only — never innerHTML — so data from webhooks and users is always text. The page's CSP
// enforces Trusted Types with no policy, so an HTML sink would throw rather than parse.
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
const CSRF = meta('csrf-token');
const BOUND_TENANT = meta('zm-tenant');
const SCOPES = meta('zm-scopes').split(' ').filter(Boolean);
const main = document.getElementById('main');
const status = document.getElementById('status');
let tenant = BOUND_TENANT || sessionStorage.getItem('zm-tenant') || '';
let stopPage = () => {};

/** el('p', { class: 'x' }, 'text', child) — attributes by setAttribute, strings as text nodes. */
function el(tag, attrs = {}, ...children) {
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

const say = (text) => {
  status.textContent = text;
};

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
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

const t = (path) => `/tenants/${encodeURIComponent(tenant)}${path}`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function table(columns, rows, caption) {
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

function field(label, input) {
  return el('label', {}, el('span', {}, label), input);
}

/** A form whose submit runs `action(formData)`; failures are shown in the form's alert. */
function form(name, fields, submitLabel, action) {
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
const once = (label, value) =>
  el(
    'div',
    { class: 'once', role: 'alert' },
    el('p', {}, `${label} (shown once, copy it now):`),
    el('code', { class: 'secret' }, value),
  );

function page(title, ...content) {
  main.replaceChildren(el('h1', {}, title), ...content.flat());
  main.focus();
}

function errorBox(err) {
  if (err.status === 403)
    return el('p', { role: 'alert', class: 'alert' }, 'Forbidden: this is not yours to see.');
  if (err.status === 404) return el('p', { role: 'alert', class: 'alert' }, 'Not found.');
  return el('p', { role: 'alert', class: 'alert' }, `Failed: ${err.message}`);
}

async function render(title, draw) {
  if (!tenant) {
    page(title, el('p', {}, 'Choose a tenant first.'));
    return;
  }
  try {
    await draw();
  } catch (err) {
    if (err.status !== 401) page(title, errorBox(err));
  }
}

// ---- pages ----

async function overview() {
  const stats = el('dl', { class: 'stats' });
  const draw = async () => {
    const [{ events }, { deliveries }] = await Promise.all([
      api('GET', t('/events?limit=1000')),
      api('GET', t('/deliveries?limit=1000')),
    ]);
    const minuteAgo = Date.now() - 60_000;
    const recent = events.filter((e) => Date.parse(e.receivedAt ?? e.time ?? 0) >= minuteAgo).length;
    const done = deliveries.filter((d) => d.state === 'succeeded').length;
    const dead = deliveries.filter((d) => d.state === 'dead').length;
    const retrying = deliveries.filter((d) => d.state === 'retrying').length;
    const finished = done + dead;
    const stat = (id, label, value) => [el('dt', {}, label), el('dd', { id }, value)];
    stats.replaceChildren(
      ...stat('stat-rate', 'Events/s (last minute)', (recent / 60).toFixed(2)),
      ...stat(
        'stat-success',
        'Delivery success rate',
        finished === 0 ? '—' : `${((100 * done) / finished).toFixed(1)} %`,
      ),
      ...stat('stat-succeeded', 'Delivered', String(done)),
      ...stat('stat-retrying', 'Retrying', String(retrying)),
      ...stat('stat-dead', 'Dead letters', String(dead)),
      ...stat('stat-updated', 'Updated', new Date().toLocaleTimeString()),
    );
  };
  await render('Overview', async () => {
    await draw();
    page(
      'Overview',
      stats,
      el('p', { class: 'note' }, 'Live: refreshed every 3 s from the last 1000 events and deliveries.'),
    );
    const timer = setInterval(
      () => draw().catch((err) => say(`Overview refresh failed: ${err.message}`)),
      3000,
    );
    stopPage = () => clearInterval(timer);
  });
}

async function events(query) {
  await render('Events', async () => {
    const { events: list } = await api('GET', t('/events?limit=200'));
    const type = query.get('type') ?? '';
    const source = query.get('source') ?? '';
    const shown = list.filter((e) => (!type || e.type === type) && (!source || e.sourceId === source));
    const filters = form(
      'Filter events',
      [
        field('Event type', el('input', { name: 'type', value: type })),
        field('Source id', el('input', { name: 'source', value: source })),
      ],
      'Filter',
      async (data) => {
        const q = new URLSearchParams();
        for (const k of ['type', 'source']) if (data.get(k)) q.set(k, String(data.get(k)));
        location.hash = `#/events?${q}`;
      },
    );
    page(
      'Events',
      filters,
      table(
        [
          { label: 'Event', cell: (e) => el('a', { href: `#/event/${encodeURIComponent(e.id)}` }, e.id) },
          { label: 'Type', cell: (e) => e.type },
          { label: 'Source', cell: (e) => e.sourceId },
          { label: 'Received', cell: (e) => when(e.receivedAt) },
        ],
        shown,
        `${shown.length} events`,
      ),
    );
  });
}

async function eventDetail(id) {
  await render('Event', async () => {
    const { deliveries } = await api('GET', t(`/deliveries?limit=1000&eventId=${encodeURIComponent(id)}`));
    const timelines = await Promise.all(
      deliveries.map(async (d) => {
        const { attempts } = await api('GET', t(`/deliveries/${encodeURIComponent(d.id)}/attempts`));
        return el(
          'section',
          { class: 'delivery', 'data-delivery': d.id },
          el(
            'h2',
            {},
            `Delivery ${d.id} → ${d.endpointId}: `,
            el('span', { class: `state ${d.state}` }, d.state),
          ),
          el(
            'ol',
            { class: 'timeline' },
            attempts.map((a) =>
              el(
                'li',
                {},
                `#${a.attempt} ${when(a.createdAt)} — `,
                el('strong', {}, a.statusCode === 0 ? 'no response' : `HTTP ${a.statusCode}`),
                ` in ${a.durationMs} ms`,
                a.error ? ` (${a.error})` : '',
              ),
            ),
          ),
        );
      }),
    );
    page(
      `Event ${id}`,
      el('p', {}, el('a', { href: '#/events' }, '← all events')),
      timelines.length ? timelines : el('p', {}, 'No deliveries.'),
    );
    // Live while any delivery is still in flight.
    if (deliveries.some((d) => d.state === 'pending' || d.state === 'retrying')) {
      const timer = setTimeout(() => void eventDetail(id), 2000);
      stopPage = () => clearTimeout(timer);
    }
  });
}

async function deadLetters() {
  await render('Dead letters', async () => {
    const { deliveries } = await api('GET', t('/deliveries?limit=1000'));
    const dead = deliveries.filter((d) => d.state === 'dead');
    const progress = el('progress', { max: dead.length || 1, value: 0, 'aria-label': 'Replay progress' });
    const replayOne = async (d) => {
      await api('POST', t(`/deliveries/${encodeURIComponent(d.id)}/replay`), {});
    };
    const bulk = el(
      'button',
      {
        type: 'button',
        id: 'replay-all',
        disabled: dead.length === 0,
        onclick: async () => {
          bulk.disabled = true;
          let done = 0;
          let failed = 0;
          for (const d of dead) {
            try {
              await replayOne(d);
            } catch {
              failed += 1;
            }
            done += 1;
            progress.value = done;
            say(`Replayed ${done - failed} of ${dead.length}${failed ? `, ${failed} refused` : ''}`);
          }
        },
      },
      `Replay all ${dead.length}`,
    );
    page(
      'Dead letters',
      el('p', {}, bulk, ' ', progress),
      table(
        [
          { label: 'Delivery', cell: (d) => d.id },
          {
            label: 'Event',
            cell: (d) => el('a', { href: `#/event/${encodeURIComponent(d.eventId)}` }, d.eventId),
          },
          {
            label: 'Last answer',
            cell: (d) => (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : d.lastError || '—'),
          },
          { label: 'Dead since', cell: (d) => when(d.deadAt) },
          {
            label: '',
            cell: (d) =>
              el(
                'button',
                {
                  type: 'button',
                  onclick: async (ev) => {
                    try {
                      await replayOne(d);
                      ev.target.replaceWith(el('span', {}, 'replayed'));
                    } catch (err) {
                      say(`Replay refused: ${err.message}`);
                    }
                  },
                },
                'Replay',
              ),
          },
        ],
        dead,
        `${dead.length} dead letters`,
      ),
    );
  });
}

async function endpoints() {
  await render('Endpoints', async () => {
    const { endpoints: list } = await api('GET', t('/endpoints'));
    const shown = el('div');
    const create = form(
      'Create endpoint',
      [
        field('URL', el('input', { name: 'url', type: 'url', required: true })),
        field('Event types (comma separated, empty = all)', el('input', { name: 'eventTypes' })),
      ],
      'Create endpoint',
      async (data) => {
        const eventTypes = String(data.get('eventTypes') ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const r = await api('POST', t('/endpoints'), { url: String(data.get('url')), eventTypes });
        await endpoints();
        main.prepend(once(`Signing secret of ${r.endpoint.id}`, r.signingSecret));
      },
    );
    const act = (e, label, path, body) =>
      el(
        'button',
        {
          type: 'button',
          onclick: async () => {
            try {
              const r = await api('POST', t(`/endpoints/${encodeURIComponent(e.id)}${path}`), body);
              await endpoints();
              if (r.signingSecret)
                main.prepend(
                  once(`New signing secret of ${e.id} (the old one works for 24 h)`, r.signingSecret),
                );
            } catch (err) {
              say(`Refused: ${err.message}`);
            }
          },
        },
        label,
      );
    page(
      'Endpoints',
      shown,
      create,
      table(
        [
          { label: 'Endpoint', cell: (e) => e.id },
          { label: 'URL', cell: (e) => e.url },
          {
            label: 'State',
            cell: (e) => (e.enabled ? 'enabled' : `disabled (${e.disabledReason ?? 'operator'})`),
          },
          { label: 'Previous secret until', cell: (e) => when(e.previousSecretExpiresAt) },
          {
            label: '',
            cell: (e) => [
              act(e, e.enabled ? 'Disable' : 'Enable', '', { enabled: !e.enabled }),
              ' ',
              act(e, 'Rotate secret', '/rotate-secret', { previousValidSeconds: 86400 }),
            ],
          },
        ],
        list,
        `${list.length} endpoints`,
      ),
    );
  });
}

async function sources() {
  await render('Sources', async () => {
    const { sources: list } = await api('GET', t('/sources'));
    const create = form(
      'Create source',
      [
        field(
          'Provider',
          el(
            'select',
            { name: 'provider' },
            ['generic', 'github', 'stripe', 'slack', 'shopify', 'gitlab', 'standard-webhooks', 'svix'].map(
              (p) => el('option', { value: p }, p),
            ),
          ),
        ),
        field('Name', el('input', { name: 'name' })),
        field(
          'Signing secret (from the provider; not shown again)',
          el('input', { name: 'secret', type: 'password', required: true, autocomplete: 'off' }),
        ),
      ],
      'Create source',
      async (data) => {
        const r = await api('POST', t('/sources'), {
          provider: String(data.get('provider')),
          name: String(data.get('name') ?? ''),
          secret: String(data.get('secret')),
        });
        await sources();
        main.prepend(
          el(
            'p',
            { role: 'alert', id: 'created' },
            `Created ${r.source.id}`,
            r.ingestUrl ? ` — ingest URL ${r.ingestUrl}` : '',
          ),
        );
      },
    );
    const rotate = (s) =>
      form(
        `Rotate secret of ${s.id}`,
        [
          field(
            'New secret',
            el('input', { name: 'secret', type: 'password', required: true, autocomplete: 'off' }),
          ),
        ],
        'Rotate',
        async (data) => {
          await api('POST', t(`/sources/${encodeURIComponent(s.id)}/rotate-secret`), {
            secret: String(data.get('secret')),
            previousValidSeconds: 86400,
          });
          await sources();
          say(`Rotated ${s.id}: the previous secret is accepted for 24 h`);
        },
      );
    page(
      'Sources',
      create,
      table(
        [
          { label: 'Source', cell: (s) => s.id },
          { label: 'Name', cell: (s) => s.name },
          { label: 'Provider', cell: (s) => s.provider },
          { label: 'Previous secret until', cell: (s) => when(s.previousSecretExpiresAt) },
          { label: 'Rotate', cell: rotate },
        ],
        list,
        `${list.length} sources`,
      ),
    );
  });
}

async function apiKeys() {
  try {
    const { keys } = await api(
      'GET',
      BOUND_TENANT ? '/api-keys' : `/api-keys${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`,
    );
    const create = form(
      'Create API key',
      [
        field('Name', el('input', { name: 'name', required: true })),
        field(
          'Scopes (space separated)',
          el('input', { name: 'scopes', required: true, value: 'events:read' }),
        ),
        field('Expires', el('input', { name: 'expiresAt', type: 'datetime-local' })),
      ],
      'Create key',
      async (data) => {
        const expires = String(data.get('expiresAt') ?? '');
        const r = await api('POST', '/api-keys', {
          name: String(data.get('name')),
          scopes: String(data.get('scopes')).split(/\s+/).filter(Boolean),
          ...(tenant ? { tenantId: tenant } : {}),
          ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}),
        });
        await apiKeys();
        main.prepend(once(`API key ${r.key.id}`, r.apiKey));
      },
    );
    page(
      'API keys',
      create,
      table(
        [
          { label: 'Key', cell: (k) => k.id },
          { label: 'Name', cell: (k) => k.name },
          { label: 'Scopes', cell: (k) => k.scopes.join(' ') },
          { label: 'Expires', cell: (k) => when(k.expiresAt) },
          {
            label: 'Revoked',
            cell: (k) =>
              k.revokedAt
                ? when(k.revokedAt)
                : el(
                    'button',
                    {
                      type: 'button',
                      'data-revoke': k.id,
                      onclick: async () => {
                        try {
                          await api('POST', `/api-keys/${encodeURIComponent(k.id)}/revoke`);
                          await apiKeys();
                          say(`Revoked ${k.id}`);
                        } catch (err) {
                          say(`Refused: ${err.message}`);
                        }
                      },
                    },
                    'Revoke',
                  ),
          },
        ],
        keys,
        `${keys.length} keys`,
      ),
    );
  } catch (err) {
    if (err.status !== 401) page('API keys', errorBox(err));
  }
}

async function audit() {
  await render('Audit log', async () => {
    const [{ entries }, verify] = await Promise.all([
      api('GET', t('/audit?limit=200')),
      api('GET', `/audit/verify?tenant=${encodeURIComponent(tenant)}`),
    ]);
    const chain = verify.chains[0];
    const verdict = verify.ok
      ? el(
          'p',
          { id: 'audit-verdict', class: 'ok' },
          `Chain verified: ${chain ? chain.rows : 0} rows, no broken link.`,
        )
      : el(
          'p',
          { id: 'audit-verdict', class: 'alert', role: 'alert' },
          `Chain BROKEN at row ${chain?.broken?.seq}: ${chain?.broken?.reason}`,
        );
    page(
      'Audit log',
      verdict,
      table(
        [
          { label: 'Seq', cell: (a) => String(a.seq) },
          { label: 'When', cell: (a) => when(a.at) },
          { label: 'Actor', cell: (a) => a.actor },
          { label: 'Action', cell: (a) => a.action },
          { label: 'Target', cell: (a) => a.target },
          { label: 'IP', cell: (a) => a.ip },
        ],
        entries.slice().reverse(),
        `${entries.length} entries`,
      ),
    );
  });
}

// ---- tenant choice and routing ----

async function tenantPicker() {
  const holder = document.getElementById('tenant-picker');
  if (BOUND_TENANT) {
    holder.replaceChildren(el('span', {}, `Tenant ${BOUND_TENANT}`));
    return;
  }
  try {
    const { tenants } = await api('GET', '/tenants');
    const select = el(
      'select',
      {
        id: 'tenant',
        onchange: () => {
          tenant = select.value;
          sessionStorage.setItem('zm-tenant', tenant);
          route();
        },
      },
      el('option', { value: '' }, '— tenant —'),
      tenants.map((x) => el('option', { value: x.id, selected: x.id === tenant }, x.name)),
    );
    holder.replaceChildren(field('Tenant', select));
  } catch (err) {
    say(`Tenants unavailable: ${err.message}`);
  }
}

const ROUTES = {
  overview,
  events,
  'dead-letters': deadLetters,
  endpoints,
  sources,
  'api-keys': apiKeys,
  audit,
};

async function route() {
  stopPage();
  stopPage = () => {};
  const [path, q] = (location.hash.slice(2) || 'overview').split('?');
  const query = new URLSearchParams(q ?? '');
  if (path.startsWith('event/')) return eventDetail(decodeURIComponent(path.slice(6)));
  return (ROUTES[path] ?? overview)(query);
}

window.addEventListener('hashchange', () => void route());
if (!SCOPES.includes('admin') && !SCOPES.includes('keys:admin'))
  document.querySelector('a[href="#/api-keys"]')?.remove();
await tenantPicker();
await route();
