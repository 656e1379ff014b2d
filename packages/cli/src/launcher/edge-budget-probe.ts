import { randomBytes } from 'node:crypto';
import { newId } from '@zenmesh/crypto';

/**
 * The public faces' per-IP budgets that `zenmesh verify` checks live: each is taken before anything is
 * authenticated or looked up, so a flood of made-up credentials or ids costs its sender, never the mesh.
 */
export const EDGE_BUDGET_CHECKS = ['ingester_ip_budget', 'token_ip_budget', 'api_ip_budget'] as const;
export type EdgeBudgetCheck = (typeof EDGE_BUDGET_CHECKS)[number];

export interface EdgeBudgetResult {
  check: EdgeBudgetCheck;
  pass: boolean;
  expected: string;
  observed: string;
}

export interface EdgeBudgetReport {
  ok: boolean;
  results: EdgeBudgetResult[];
}

export interface EdgeBudgetTargets {
  /** Base URLs, as `zenmesh up` records them in endpoints.json. */
  ingester: string;
  token: string;
  bff: string;
}

/**
 * One refused request per face, each counted against the prober's own address only: an unknown source id at
 * the ingester (404 `unknown_source`, no source budget exists for it), a made-up OAuth client at the token
 * endpoint (401 `invalid_client`) and a made-up API key at `/api/v1` (401). The answer must carry the IP
 * budget's `X-RateLimit-Limit` and a `X-RateLimit-Remaining` below it — evidence that the budget was spent
 * *before* the lookup or authentication that refused it. Exhausting a budget to see the 429 would cost the
 * operator's own address its budget; the 429 itself is proved by the tests named in docs/security-matrix.md.
 */
export async function probeEdgeBudgets(targets: EdgeBudgetTargets): Promise<EdgeBudgetReport> {
  const results: EdgeBudgetResult[] = [];
  const check = async (
    name: EdgeBudgetCheck,
    status: number,
    error: string,
    request: () => Promise<Response>,
  ): Promise<void> => {
    const expected = `HTTP ${status} ${error} with X-RateLimit-Limit and Remaining below it`;
    let observed: string;
    let pass = false;
    try {
      const res = await request();
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      const limit = res.headers.get('x-ratelimit-limit');
      const remaining = res.headers.get('x-ratelimit-remaining');
      observed = `HTTP ${res.status} ${body.error ?? ''} limit=${limit ?? '(none)'} remaining=${remaining ?? '(none)'}`;
      pass =
        res.status === status &&
        body.error === error &&
        limit !== null &&
        remaining !== null &&
        Number(limit) > 0 &&
        Number(remaining) < Number(limit);
    } catch (err) {
      observed = `no answer: ${(err as Error).message}`;
    }
    results.push({ check: name, pass, expected, observed });
  };
  const timeout = () => AbortSignal.timeout(5_000);

  await check('ingester_ip_budget', 404, 'unknown_source', () =>
    fetch(`${targets.ingester.replace(/\/+$/, '')}/v1/webhooks/${newId('src')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: timeout(),
    }),
  );
  await check('token_ip_budget', 401, 'invalid_client', () =>
    fetch(`${targets.token.replace(/\/+$/, '')}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: `zenmesh-verify-${randomBytes(8).toString('hex')}`,
        client_secret: randomBytes(16).toString('base64url'),
      }),
      signal: timeout(),
    }),
  );
  await check('api_ip_budget', 401, 'unauthenticated', () =>
    fetch(`${targets.bff.replace(/\/+$/, '')}/api/v1/tenants`, {
      headers: { authorization: `Bearer zm_${randomBytes(32).toString('base64url')}` },
      signal: timeout(),
    }),
  );
  return { ok: results.every((r) => r.pass), results };
}
