// Connections (docs/routing.md): a source routed to an endpoint, with an optional CEL filter and transform.
import { api, el, field, main, page, render, say, t, table, when } from './kit.js';

/**
 * The backend refuses a filter or transform that does not compile as `invalid_filter: <line>:<column>: …`:
 * shown with the offending line and a caret under the column (text only).
 */
export function refusalWithPosition(message, source) {
  const m = /^(invalid_filter|invalid_transform): (\d+):(\d+): (.*)$/s.exec(message);
  if (!m) return el('p', { role: 'alert', class: 'alert', id: 'connection-refusal' }, `Refused: ${message}`);
  const [, kind, line, column, why] = m;
  const text = String(source ?? '').split('\n')[Number(line) - 1] ?? '';
  const what = kind === 'invalid_filter' ? 'Filter' : 'Transform';
  return el(
    'div',
    { role: 'alert', class: 'alert', id: 'connection-refusal' },
    el('p', {}, `${what} refused at line ${line}, column ${column}: ${why}`),
    el('pre', { class: 'caret' }, `${text}\n${' '.repeat(Math.max(0, Number(column) - 1))}^`),
  );
}

export async function connections() {
  await render('Connections', async () => {
    const [{ connections: list }, { sources }, { endpoints }] = await Promise.all([
      api('GET', t('/connections')),
      api('GET', t('/sources')),
      api('GET', t('/endpoints')),
    ]);
    const alert = el('div');
    const create = el(
      'form',
      { 'aria-label': 'Create connection' },
      field(
        'Source',
        el(
          'select',
          { name: 'sourceId', required: true },
          sources.map((s) => el('option', { value: s.id }, `${s.name || s.id} (${s.provider})`)),
        ),
      ),
      field(
        'Endpoint',
        el(
          'select',
          { name: 'endpointId', required: true },
          endpoints.map((e) => el('option', { value: e.id }, e.url)),
        ),
      ),
      field(
        'Filter (CEL, empty = every event)',
        el('textarea', { name: 'filter', rows: 2, cols: 40, spellcheck: 'false' }),
      ),
      field(
        'Transform (CEL, empty = as received)',
        el('textarea', { name: 'transform', rows: 2, cols: 40, spellcheck: 'false' }),
      ),
      el('button', { type: 'submit' }, 'Create connection'),
      alert,
    );
    create.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      alert.replaceChildren();
      const data = new FormData(create);
      const filter = String(data.get('filter') ?? '');
      const transform = String(data.get('transform') ?? '');
      try {
        const r = await api('POST', t('/connections'), {
          sourceId: String(data.get('sourceId') ?? ''),
          endpointId: String(data.get('endpointId') ?? ''),
          ...(filter ? { filter } : {}),
          ...(transform ? { transform } : {}),
        });
        await connections();
        main.prepend(el('p', { role: 'alert', id: 'created' }, `Created ${r.connection.id}`));
      } catch (err) {
        const source = /^invalid_transform/.test(err.message) ? transform : filter;
        alert.replaceChildren(refusalWithPosition(err.message, source));
      }
    });
    const remove = (c) =>
      el(
        'button',
        {
          type: 'button',
          'data-delete': c.id,
          onclick: async () => {
            try {
              await api('DELETE', t(`/connections/${encodeURIComponent(c.id)}`));
              await connections();
              say(`Deleted ${c.id}`);
            } catch (err) {
              say(`Refused: ${err.message}`);
            }
          },
        },
        'Delete',
      );
    page(
      'Connections',
      el(
        'p',
        { class: 'note' },
        'A source’s first connection switches it to routing only through its enabled connections (audited); deleting the last one does not switch it back (docs/routing.md).',
      ),
      create,
      table(
        [
          { label: 'Connection', cell: (c) => c.id },
          { label: 'Source', cell: (c) => c.sourceId },
          { label: 'Endpoint', cell: (c) => c.endpointId },
          { label: 'Filter', cell: (c) => (c.filter ? el('code', {}, c.filter) : 'every event') },
          { label: 'Transform', cell: (c) => (c.transform ? el('code', {}, c.transform) : 'as received') },
          { label: 'State', cell: (c) => (c.enabled ? 'enabled' : 'disabled') },
          { label: 'Created', cell: (c) => when(c.createdAt) },
          { label: '', cell: remove },
        ],
        list,
        `${list.length} connections`,
      ),
    );
  });
}
