import { randomBytes } from 'node:crypto';

/** The token service's browser- and client-facing refusals that `zenmesh verify` can check live. */
export const TOKEN_EDGE_CHECKS = [
  'login_csrf_cookie',
  'login_form_action',
  'enrollment_link_forged',
  'introspect_unauthenticated',
] as const;
export type TokenEdgeCheck = (typeof TOKEN_EDGE_CHECKS)[number];

export interface TokenEdgeResult {
  check: TokenEdgeCheck;
  pass: boolean;
  /** True when the check could not run (e.g. no code-flow client is registered); it then counts as a pass. */
  skipped: boolean;
  expected: string;
  observed: string;
}

export interface TokenEdgeReport {
  ok: boolean;
  issuer: string;
  results: TokenEdgeResult[];
}

/** A registered client able to run the login page: its id and first redirect URI. */
export interface CodeFlowClient {
  id: string;
  redirectUri: string;
}

const CSRF_COOKIE = /^__Host-zm_login_csrf=…; Path=\/; Secure; HttpOnly; SameSite=Strict$/;

/**
 * Probes the token service's public HTTP face with requests that change nothing: a login form fetched but
 * never posted (its CSRF cookie must be `__Host-`, Secure, HttpOnly, SameSite=Strict, and its CSP must let the
 * form's redirect reach the client), a forged enrollment-link token (410), and an introspection without client
 * authentication (401 invalid_client).
 */
export async function probeTokenEdge(
  issuer: string,
  client: CodeFlowClient | null,
): Promise<TokenEdgeReport> {
  const base = issuer.replace(/\/+$/, '');
  const results: TokenEdgeResult[] = [];
  const record = (
    check: TokenEdgeCheck,
    expected: string,
    observed: string,
    pass: boolean,
    skipped = false,
  ) => results.push({ check, expected, observed, pass, skipped });

  if (client === null) {
    const why = 'skipped: no authorization_code client is registered';
    record('login_csrf_cookie', '__Host- Secure HttpOnly SameSite=Strict cookie', why, true, true);
    record('login_form_action', "form-action 'self' <redirect origin>", why, true, true);
  } else {
    const url = new URL(`${base}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.id,
      redirect_uri: client.redirectUri,
      scope: 'openid',
      state: 'zenmesh-verify',
      code_challenge: randomBytes(32).toString('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    const cookies = res.headers.getSetCookie();
    // The value is a fresh random token nobody will use; it is elided anyway, as evidence need not carry it.
    const csrf =
      cookies.find((c) => c.includes('zm_login_csrf'))?.replace(/=[^;]*/, '=…') ??
      `(none; HTTP ${res.status})`;
    record(
      'login_csrf_cookie',
      '__Host-zm_login_csrf=…; Path=/; Secure; HttpOnly; SameSite=Strict',
      csrf,
      CSRF_COOKIE.test(csrf),
    );
    const csp = res.headers.get('content-security-policy') ?? '(no CSP)';
    const formAction = /form-action ([^;]+)/.exec(csp)?.[1]?.trim() ?? '(no form-action)';
    const want = `'self' ${new URL(client.redirectUri).origin}`;
    record('login_form_action', `form-action ${want}`, `form-action ${formAction}`, formAction === want);
  }

  const link = await fetch(`${base}/account/totp?token=${randomBytes(32).toString('base64url')}`, {
    signal: AbortSignal.timeout(5_000),
  });
  await link.arrayBuffer();
  record('enrollment_link_forged', 'HTTP 410', `HTTP ${link.status}`, link.status === 410);

  const intro = await fetch(`${base}/oauth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: 'not-a-token' }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await intro.json().catch(() => ({}))) as { error?: string };
  const seen = `HTTP ${intro.status} ${body.error ?? ''}`.trim();
  record('introspect_unauthenticated', 'HTTP 401 invalid_client', seen, seen === 'HTTP 401 invalid_client');

  return { ok: results.every((r) => r.pass), issuer: base, results };
}
