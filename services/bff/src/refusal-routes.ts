import { scrapeRefusals } from './refusal-metrics.js';
import { type Route, requireClusterKey } from './route-kit.js';

/**
 * GET /api/v1/refusals: refusals by reason summed over the services' /metrics (refusal-metrics.ts). Scope
 * `admin` and a caller bound to no tenant: the counters are cluster-wide, so a tenant's user reads nothing.
 * Scrapes are cached one second, so a console polling every few seconds costs each service one scrape.
 */
export function createRefusalRoutes(urls: readonly string[]): Route[] {
  let cached: { until: number; value: ReturnType<typeof scrapeRefusals> } | undefined;
  return [
    {
      method: 'GET',
      pattern: /^\/api\/v1\/refusals$/,
      scopes: ['admin'],
      doc: {
        summary: 'Refusals by reason (webhooks at the ingester, mesh calls), from the services’ metrics',
      },
      async handle({ caller }) {
        requireClusterKey(caller);
        const now = Date.now();
        if (cached === undefined || cached.until <= now) {
          cached = { until: now + 1000, value: scrapeRefusals(urls) };
        }
        return { status: 200, body: await cached.value };
      },
    },
  ];
}
