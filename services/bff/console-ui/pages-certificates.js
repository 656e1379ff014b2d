// Certificates: the CA, the trust bundle, every workload SVID with its expiry, and the CA rotation (start,
// watch, abort). Cluster-wide: the bff answers /ca only to a caller bound to no tenant with scope admin.
import { api, el, errorBox, field, form, main, page, say, state, table, when } from './kit.js';

const FINAL = new Set(['completed', 'rolled_back', 'failed']);
const REFRESH_MS = 2000;

/** "in 3 min" / "expired 10 s ago": how long an SVID has left, from the browser's clock. */
function left(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const span = (n) =>
    Math.abs(n) >= 5400
      ? `${Math.round(Math.abs(n) / 3600)} h`
      : Math.abs(n) >= 90
        ? `${Math.round(Math.abs(n) / 60)} min`
        : `${Math.abs(n)} s`;
  return s >= 0 ? `in ${span(s)}` : `expired ${span(s)} ago`;
}

function rotationSection(r, onAbort) {
  if (!r) return el('section', { id: 'rotation' }, el('h2', {}, 'Rotation'), el('p', {}, 'No rotation yet.'));
  const running = !FINAL.has(r.phase);
  return el(
    'section',
    { id: 'rotation', 'data-rotation': r.id },
    el('h2', {}, `Rotation ${r.id}`),
    el(
      'p',
      {},
      'Phase: ',
      el(
        'strong',
        {
          id: 'rotation-phase',
          class: `state ${r.phase === 'completed' ? 'succeeded' : running ? '' : 'dead'}`,
        },
        r.phase,
      ),
      ` — ${r.from} → ${r.to ?? '…'}; canaries: ${r.canaries.join(', ') || 'none'}; started ${when(r.startedAt)}`,
    ),
    r.error ? el('p', { class: 'alert', role: 'alert' }, `Reason: ${r.error}`) : null,
    running
      ? el(
          'p',
          {},
          el('button', { type: 'button', id: 'rotation-abort', onclick: onAbort }, 'Abort rotation'),
        )
      : null,
    el(
      'ol',
      { class: 'timeline', id: 'rotation-history', 'aria-label': 'Rotation history' },
      r.history.map((h) => el('li', {}, `${when(h.at)} — `, el('strong', {}, h.phase), ` ${h.message}`)),
    ),
  );
}

export async function certificates() {
  const holder = el('div', { id: 'ca' });
  const draw = async () => {
    const s = await api('GET', '/ca');
    const abort = async () => {
      try {
        await api('POST', '/ca/rotation/abort');
        say('Abort requested: the rotation rolls back');
      } catch (err) {
        say(`Abort refused: ${err.message}`);
      }
      await draw().catch(() => {});
    };
    holder.replaceChildren(
      el(
        'p',
        {},
        `Trust domain ${s.trustDomain}; trust bundle version ${s.bundle.version} (${s.bundle.fingerprints.length} CA)`,
      ),
      table(
        [
          { label: 'CA', cell: (a) => a.id },
          { label: 'State', cell: (a) => a.state },
          { label: 'In bundle', cell: (a) => (s.bundle.fingerprints.includes(a.fingerprint) ? 'yes' : 'no') },
          { label: 'Subject', cell: (a) => a.subject },
          { label: 'Not after', cell: (a) => `${when(a.notAfter)} (${left(a.notAfter)})` },
          { label: 'SHA-256', cell: (a) => el('code', {}, a.fingerprint.slice(0, 16)) },
        ],
        s.authorities,
        'Certificate authorities',
      ),
      rotationSection(s.rotation, abort),
      table(
        [
          { label: 'SPIFFE ID', cell: (w) => w.spiffeId },
          { label: 'Serial', cell: (w) => el('code', {}, w.serial) },
          { label: 'Issuer', cell: (w) => w.issuer },
          { label: 'Expires', cell: (w) => `${when(w.notAfter)} (${left(w.notAfter)})` },
          { label: 'Bundle acked', cell: (w) => `v${w.bundleAcked}` },
        ],
        s.workloads,
        `${s.workloads.length} workload SVIDs`,
      ),
      // replaceChildren would print a null as text: the optional line is left out instead.
      ...(s.revokedSerials
        ? [el('p', {}, `${s.revokedSerials} revoked serial(s) still within their lifetime`)]
        : []),
    );
  };
  const start = form(
    'Start CA rotation',
    [
      field(
        'Canary services (comma separated, optional)',
        el('input', { name: 'canaries', placeholder: 'egress' }),
      ),
    ],
    'Start rotation',
    async (data) => {
      const canaries = String(data.get('canaries') ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      const { rotation } = await api('POST', '/ca/rotate', { canaries });
      say(`Rotation ${rotation.id} started`);
      await draw();
    },
  );
  try {
    await draw();
  } catch (err) {
    if (err.status !== 401) page('Certificates', errorBox(err));
    return;
  }
  page(
    'Certificates',
    start,
    holder,
    el('p', { class: 'note' }, `Live: refreshed every ${REFRESH_MS / 1000} s from the CA.`),
  );
  const timer = setInterval(() => {
    draw().catch((err) => say(`Certificates refresh failed: ${err.message}`));
  }, REFRESH_MS);
  state.stopPage = () => clearInterval(timer);
  main.focus();
}
