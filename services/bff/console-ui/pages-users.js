// Users of the tenant (create, reset a second factor by a one-time link) and the signed-in user's own TOTP.
import { api, CSRF, el, field, form, main, meta, once, page, SCOPES, say, state, table } from './kit.js';

const ME = meta('zm-user');

async function qrImage(text) {
  const res = await fetch('/console/qr', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': CSRF },
    body: JSON.stringify({ text }),
  });
  if (!res.ok) throw new Error(`QR code refused (${res.status})`);
  const { dataUrl } = await res.json();
  return el('img', { src: dataUrl, alt: 'QR code of the new authenticator secret', id: 'totp-qr' });
}

/** The user's own second factor: re-authenticate, see the new secret once, confirm it with a code. */
function ownTotp() {
  const holder = el('div');
  const start = form(
    'Enroll an authenticator',
    [
      field(
        'Your password',
        el('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
      ),
      field(
        'Current code (if you have one)',
        el('input', { name: 'currentCode', inputmode: 'numeric', autocomplete: 'one-time-code' }),
      ),
    ],
    'Start enrollment',
    async (data) => {
      const code = String(data.get('currentCode') ?? '');
      const r = await api('POST', `/users/${encodeURIComponent(ME)}/totp`, {
        password: String(data.get('password')),
        ...(code ? { currentCode: code } : {}),
      });
      const confirm = form(
        'Confirm the authenticator',
        [field('Code from the app', el('input', { name: 'code', inputmode: 'numeric', required: true }))],
        'Confirm',
        async (d) => {
          await api('POST', `/users/${encodeURIComponent(ME)}/totp/confirm`, { code: String(d.get('code')) });
          holder.replaceChildren(
            el('p', { role: 'alert', id: 'totp-done' }, 'The new authenticator is now required.'),
          );
        },
      );
      holder.replaceChildren(
        await qrImage(r.otpauthUri),
        el('div', { id: 'totp-secret' }, once('Secret (otpauth URI)', r.otpauthUri)),
        el('p', {}, 'Recovery codes (each works once):'),
        el(
          'ul',
          { id: 'recovery-codes' },
          r.recoveryCodes.map((c) => el('li', {}, el('code', {}, c))),
        ),
        el('p', {}, 'Your previous authenticator keeps working until you confirm this one.'),
        confirm,
      );
    },
  );
  return [el('h2', {}, 'Your second factor'), start, holder];
}

async function members() {
  if (!SCOPES.includes('admin') && !SCOPES.includes('keys:admin')) return [];
  const { users: list } = await api(
    'GET',
    `/users${state.tenant ? `?tenant=${encodeURIComponent(state.tenant)}` : ''}`,
  );
  const create = form(
    'Create user',
    [
      field('Username', el('input', { name: 'username', required: true, autocomplete: 'off' })),
      field(
        'Password (12 or more characters)',
        el('input', {
          name: 'password',
          type: 'password',
          required: true,
          minlength: 12,
          autocomplete: 'new-password',
        }),
      ),
      field(
        'Role',
        el(
          'select',
          { name: 'role' },
          ['reader', 'operator', 'admin'].map((r) => el('option', { value: r }, r)),
        ),
      ),
    ],
    'Create user',
    async (data) => {
      const r = await api('POST', '/users', {
        username: String(data.get('username')),
        password: String(data.get('password')),
        role: String(data.get('role')),
        ...(state.tenant ? { tenantId: state.tenant } : {}),
      });
      await users();
      say(`Created ${r.user.username} (${r.userId})`);
    },
  );
  const reset = (u) =>
    el(
      'button',
      {
        type: 'button',
        'data-reset': u.username,
        onclick: async () => {
          try {
            const r = await api('POST', `/users/${encodeURIComponent(u.id)}/totp/reset`);
            main.prepend(
              once(`One-time enrollment link for ${u.username} (until ${r.expiresAt})`, r.enrollmentUrl),
            );
          } catch (err) {
            say(`Refused: ${err.message}`);
          }
        },
      },
      'Reset TOTP',
    );
  return [
    el('h2', {}, 'Users'),
    create,
    table(
      [
        { label: 'User', cell: (u) => u.id },
        { label: 'Username', cell: (u) => u.username },
        { label: 'TOTP', cell: (u) => (u.mfaEnabled ? 'enabled' : 'none') },
        {
          label: 'Roles',
          cell: (u) => u.memberships.map((m) => `${m.role}@${m.tenantId ?? 'cluster'}`).join(', '),
        },
        { label: '', cell: (u) => (u.id === ME ? '' : reset(u)) },
      ],
      list,
      `${list.length} users`,
    ),
  ];
}

export async function users() {
  try {
    page('Users', ...ownTotp(), ...(await members()));
  } catch (err) {
    if (err.status !== 401)
      page('Users', el('p', { role: 'alert', class: 'alert' }, `Failed: ${err.message}`));
  }
}
