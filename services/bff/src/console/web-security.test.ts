import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createConsoleSetup, staticClient } from './index.js';
import { requireSecureUrl } from './oidc-login.js';
import { escapeHtml, renderContinue, renderShell } from './pages.js';
import { parseCookies, sameOriginRequest, sameToken, securityHeaders } from './web-security.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const ORIGIN = 'https://mesh.example.com';

describe('console web security', () => {
  it('sends HSTS only over TLS, and a fresh nonce unless one is given', () => {
    expect(securityHeaders({ tls: true })['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
    expect(securityHeaders({ tls: false })['strict-transport-security']).toBeUndefined();
    const a = securityHeaders({ tls: false })['content-security-policy'];
    const b = securityHeaders({ tls: false })['content-security-policy'];
    expect(a).not.toBe(b);
    expect(securityHeaders({ tls: false, nonce: 'n0nce' })['content-security-policy']).toContain(
      "'nonce-n0nce'",
    );
  });

  it('accepts http only on loopback, for the issuer and for the redirect URI', async () => {
    expect(requireSecureUrl('x', 'http://127.0.0.1:4000').origin).toBe('http://127.0.0.1:4000');
    expect(requireSecureUrl('x', 'http://localhost:3000').origin).toBe('http://localhost:3000');
    expect(() => requireSecureUrl('x', 'http://mesh.example.com')).toThrow(/must be https/);
    expect(() => requireSecureUrl('x', 'ftp://127.0.0.1')).toThrow(/must be https/);
    const timeouts = { idleMs: 1000, absoluteMs: 2000 };
    expect(() =>
      createConsoleSetup({ issuer: 'http://auth.example.com', client: staticClient(client()), timeouts }),
    ).toThrow(/must be https/);
    const setup = createConsoleSetup({
      issuer: 'https://auth.example.com',
      client: staticClient({ ...client(), redirectUri: 'http://mesh.example.com/console/callback' }),
      timeouts,
    });
    await expect(setup.oauth.origin()).rejects.toThrow(/must be https/);
    expect(() =>
      createConsoleSetup({
        issuer: 'https://a.example',
        client: staticClient(client()),
        timeouts: { idleMs: 3, absoluteMs: 2 },
      }),
    ).toThrow(/idle timeout/);
  });

  it('believes only the console origin for a state change', () => {
    expect(sameOriginRequest(req({ origin: ORIGIN }), ORIGIN)).toBe(true);
    expect(sameOriginRequest(req({ origin: 'https://evil.example' }), ORIGIN)).toBe(false);
    expect(sameOriginRequest(req({ origin: 'null' }), ORIGIN)).toBe(false);
    expect(sameOriginRequest(req({ 'sec-fetch-site': 'cross-site' }), ORIGIN)).toBe(false);
    expect(sameOriginRequest(req({ 'sec-fetch-site': 'same-site' }), ORIGIN)).toBe(false);
    expect(sameOriginRequest(req({ 'sec-fetch-site': 'same-origin' }), ORIGIN)).toBe(true);
  });

  it('compares tokens exactly and takes the first cookie of a name', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('', '')).toBe(false);
    expect(sameToken('abc', 'abcd')).toBe(false);
    expect(parseCookies('a=1; __Host-zm_console=x; __Host-zm_console=y').get('__Host-zm_console')).toBe('x');
  });

  it('encodes what it writes into HTML', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;',
    );
    const assets = { script: { path: '/s.js' }, style: { path: '/s.css' } } as Parameters<
      typeof renderShell
    >[0];
    const html = renderShell(assets, {
      nonce: 'n',
      csrfToken: 't',
      username: '<script>alert(1)</script>',
      userId: 'usr_1',
      tenantId: null,
      scopes: [],
      jaegerUiUrl: 'https://jaeger.example/"><script>',
    });
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('content="https://jaeger.example/&quot;&gt;&lt;script&gt;"');
    expect(html).not.toContain('<script>alert');
    expect(renderContinue('/console/"><x')).not.toContain('"><x');
  });
});

function client() {
  return { clientId: 'c', clientSecret: 's', redirectUri: 'http://127.0.0.1:3000/console/callback' };
}
