// The Zen Mesh console's browser half: plain ES module, no dependencies, no build step. It draws every page
// from /console/api/v1 (the /api/v1 handlers, under the signed-in user's own token) with DOM APIs and
// textContent only — never innerHTML — so data from webhooks and users is always text. The page's CSP
// enforces Trusted Types with no policy, so an HTML sink would throw rather than parse.
import { api, BOUND_TENANT, el, field, SCOPES, say, state } from './kit.js';
import { deadLetters, eventDetail, events, overview } from './pages-activity.js';
import { certificates } from './pages-certificates.js';
import { apiKeys, audit, endpoints, sources } from './pages-config.js';
import { connections } from './pages-connections.js';
import { users } from './pages-users.js';
import { clusterOwner } from './panel-refusals.js';

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
          state.tenant = select.value;
          sessionStorage.setItem('zm-tenant', state.tenant);
          route();
        },
      },
      el('option', { value: '' }, '— tenant —'),
      tenants.map((x) => el('option', { value: x.id, selected: x.id === state.tenant }, x.name)),
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
  connections,
  'api-keys': apiKeys,
  audit,
  users,
  certificates,
};

async function route() {
  state.generation += 1;
  state.stopPage();
  state.stopPage = () => {};
  say('');
  const [path, q] = (location.hash.slice(2) || 'overview').split('?');
  const query = new URLSearchParams(q ?? '');
  if (path.startsWith('event/')) return eventDetail(decodeURIComponent(path.slice(6)));
  return (ROUTES[path] ?? overview)(query);
}

window.addEventListener('hashchange', () => void route());
if (!SCOPES.includes('admin') && !SCOPES.includes('keys:admin'))
  document.querySelector('a[href="#/api-keys"]')?.remove();
// The mesh's certificates are the cluster owner's (the bff refuses anyone else with 403 all the same).
if (!clusterOwner()) document.querySelector('a[href="#/certificates"]')?.remove();
await tenantPicker();
await route();
