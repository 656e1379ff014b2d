// Overview, events with their delivery timelines, and dead letters.
import { api, el, field, form, meta, page, render, say, state, t, table, when } from './kit.js';
import { refusalsPanel } from './panel-refusals.js';

// ---- pages ----

const LATENCY_SAMPLE = 20;
const LATENCY_EVERY = 5; // refreshes: the attempts of the sample are fetched every 15 s

/** The 95th percentile (nearest rank) of attempt durations over the most recently updated deliveries. */
async function p95Latency(deliveries) {
  const sample = deliveries
    .filter((d) => d.attempts > 0)
    .sort((a, b) => Date.parse(b.updatedAt ?? 0) - Date.parse(a.updatedAt ?? 0))
    .slice(0, LATENCY_SAMPLE);
  const lists = await Promise.all(
    sample.map((d) => api('GET', t(`/deliveries/${encodeURIComponent(d.id)}/attempts`))),
  );
  const durations = lists.flatMap((l) => l.attempts.map((a) => a.durationMs)).sort((a, b) => a - b);
  if (durations.length === 0) return '—';
  return `${durations[Math.ceil(0.95 * durations.length) - 1]} ms (${durations.length} attempts)`;
}

export async function overview() {
  const stats = el('dl', { class: 'stats' });
  const refusals = refusalsPanel();
  let round = 0;
  let latency = '—';
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
    if (round++ % LATENCY_EVERY === 0) latency = await p95Latency(deliveries);
    await refusals.refresh();
    const stat = (id, label, value) => [el('dt', {}, label), el('dd', { id }, value)];
    stats.replaceChildren(
      ...stat('stat-rate', 'Events/s (last minute)', (recent / 60).toFixed(2)),
      ...stat(
        'stat-success',
        'Delivery success rate',
        finished === 0 ? '—' : `${((100 * done) / finished).toFixed(1)} %`,
      ),
      ...stat('stat-p95', `p95 attempt latency (last ${LATENCY_SAMPLE} deliveries)`, latency),
      ...stat('stat-succeeded', 'Delivered', String(done)),
      ...stat('stat-retrying', 'Retrying', String(retrying)),
      ...stat('stat-dead', 'Dead letters', String(dead)),
      ...stat('stat-updated', 'Updated', new Date().toLocaleTimeString()),
    );
  };
  await render('Overview', async () => {
    const shown = state.generation;
    await draw();
    // The first figures can take seconds (a thousand deliveries, every service's refusal counters): if the user
    // navigated meanwhile, drawing the overview now would replace the page they chose, and start a timer no
    // route change would stop.
    if (shown !== state.generation) return;
    page(
      'Overview',
      stats,
      el('p', { class: 'note' }, 'Live: refreshed every 3 s from the last 1000 events and deliveries.'),
      refusals.section,
    );
    const timer = setInterval(
      () => draw().catch((err) => say(`Overview refresh failed: ${err.message}`)),
      3000,
    );
    state.stopPage = () => clearInterval(timer);
  });
}

const STATES = ['pending', 'retrying', 'succeeded', 'dead'];

export async function events(query) {
  await render('Events', async () => {
    const [{ events: list }, { deliveries }] = await Promise.all([
      api('GET', t('/events?limit=500')),
      api('GET', t('/deliveries?limit=1000')),
    ]);
    const f = Object.fromEntries(['type', 'source', 'status', 'since'].map((k) => [k, query.get(k) ?? '']));
    const statesOf = new Map();
    for (const d of deliveries) statesOf.set(d.eventId, [...(statesOf.get(d.eventId) ?? []), d.state]);
    const since = f.since ? Date.parse(f.since) : Number.NaN;
    const shown = list.filter(
      (e) =>
        (!f.type || e.type === f.type) &&
        (!f.source || e.sourceId === f.source) &&
        (!f.status || (statesOf.get(e.id) ?? []).includes(f.status)) &&
        (Number.isNaN(since) || Date.parse(e.receivedAt ?? 0) >= since),
    );
    const filters = form(
      'Filter events',
      [
        field('Event type', el('input', { name: 'type', value: f.type })),
        field('Source id', el('input', { name: 'source', value: f.source })),
        field(
          'Delivery status',
          el(
            'select',
            { name: 'status' },
            el('option', { value: '' }, 'any'),
            STATES.map((st) => el('option', { value: st, selected: st === f.status }, st)),
          ),
        ),
        field('Received since', el('input', { name: 'since', type: 'datetime-local', value: f.since })),
      ],
      'Filter',
      async (data) => {
        const q = new URLSearchParams();
        for (const k of ['type', 'source', 'status', 'since']) if (data.get(k)) q.set(k, String(data.get(k)));
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
          { label: 'Deliveries', cell: (e) => (statesOf.get(e.id) ?? []).join(', ') || '—' },
          { label: 'Received', cell: (e) => when(e.receivedAt) },
        ],
        shown,
        `${shown.length} events`,
      ),
    );
  });
}

/** The event's trace id, linked to Jaeger's trace page when the bff has JAEGER_UI_URL (as `zenmesh events show`). */
function traceLine(traceId) {
  if (!/^[0-9a-f]{32}$/.test(traceId ?? '')) {
    return el('p', { id: 'trace' }, 'Trace: none (tracing was off when it was recorded).');
  }
  const base = meta('zm-jaeger').replace(/\/+$/, '');
  return el(
    'p',
    { id: 'trace' },
    'Trace id ',
    el('code', { id: 'trace-id' }, traceId),
    /^https?:\/\//.test(base)
      ? [
          ' — ',
          el(
            'a',
            {
              id: 'trace-link',
              href: `${base}/trace/${traceId}`,
              rel: 'noopener noreferrer',
              target: '_blank',
            },
            'open in Jaeger',
          ),
        ]
      : '',
  );
}

export async function eventDetail(id) {
  await render('Event', async () => {
    const [{ event }, { deliveries }] = await Promise.all([
      api('GET', t(`/events/${encodeURIComponent(id)}`)),
      api('GET', t(`/deliveries?limit=1000&eventId=${encodeURIComponent(id)}`)),
    ]);
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
      el('p', {}, `${event.type} from ${event.sourceId}, received ${when(event.receivedAt)}`),
      traceLine(event.traceId),
      timelines.length ? timelines : el('p', {}, 'No deliveries.'),
    );
    // Live while any delivery is still in flight.
    if (deliveries.some((d) => d.state === 'pending' || d.state === 'retrying')) {
      const timer = setTimeout(() => void eventDetail(id), 2000);
      state.stopPage = () => clearTimeout(timer);
    }
  });
}

export async function deadLetters() {
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
