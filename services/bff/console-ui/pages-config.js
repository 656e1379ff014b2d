// Endpoints, sources, API keys and the audit log.
import {
  api,
  BOUND_TENANT,
  el,
  errorBox,
  field,
  form,
  main,
  once,
  page,
  render,
  say,
  state,
  t,
  table,
  when,
} from './kit.js';

export async function endpoints() {
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

export async function sources() {
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

export async function apiKeys() {
  try {
    const { keys } = await api(
      'GET',
      BOUND_TENANT
        ? '/api-keys'
        : `/api-keys${state.tenant ? `?tenant=${encodeURIComponent(state.tenant)}` : ''}`,
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
          ...(state.tenant ? { tenantId: state.tenant } : {}),
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

export async function audit() {
  await render('Audit log', async () => {
    const [{ entries }, verify] = await Promise.all([
      api('GET', t('/audit?limit=200')),
      api('GET', `/audit/verify?tenant=${encodeURIComponent(state.tenant)}`),
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
