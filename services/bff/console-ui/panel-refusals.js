// The overview's refusals by reason: GET /refusals sums the services' own refusal counters (their /metrics):
// webhooks the ingester refused, and mesh calls refused before a handler. Cluster-wide, so only the
// cluster's owner (no tenant, scope admin) reads it; a tenant's user is told so instead.
import { api, BOUND_TENANT, el, SCOPES, table } from './kit.js';

export const clusterOwner = () => !BOUND_TENANT && SCOPES.includes('admin');

const rows = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => ({ reason, count }));

/** A section that `refresh()` redraws from /refusals; for anyone else a note, and `refresh` does nothing. */
export function refusalsPanel() {
  const section = el(
    'section',
    { id: 'refusals', 'aria-label': 'Refusals by reason' },
    el('h2', {}, 'Refusals by reason'),
  );
  if (!clusterOwner()) {
    section.append(
      el(
        'p',
        { class: 'note' },
        'Refusals are counted cluster-wide (a refused webhook has no tenant): the cluster’s owner sees them here.',
      ),
    );
    return { section, refresh: async () => {} };
  }
  const body = el('div');
  section.append(body);
  const refresh = async () => {
    let snap;
    try {
      snap = await api('GET', '/refusals');
    } catch (err) {
      body.replaceChildren(
        el(
          'p',
          { class: 'alert' },
          err.status === 404
            ? 'No metrics configured (ZENMESH_CONSOLE_METRICS_URLS).'
            : `Refusals unavailable: ${err.message}`,
        ),
      );
      return;
    }
    const missing = snap.targets.filter((x) => !x.ok);
    const column = [
      { label: 'Reason', cell: (r) => r.reason },
      { label: 'Count', cell: (r) => String(r.count) },
    ];
    body.replaceChildren(
      table(column, rows(snap.ingest), 'Webhooks refused at the ingester'),
      table(column, rows(snap.rpc), 'Mesh calls refused before a handler'),
      el(
        'p',
        { class: missing.length ? 'alert' : 'note' },
        `Since each process started; from ${snap.targets.length - missing.length} of ${snap.targets.length} services' /metrics`,
        missing.length ? ` (no answer: ${missing.map((x) => `${x.url} ${x.error}`).join(', ')})` : '',
        '.',
      ),
    );
  };
  return { section, refresh };
}
