import type { ConsoleAssets } from './assets.js';

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export interface ShellData {
  nonce: string;
  csrfToken: string;
  username: string;
  userId: string;
  tenantId: string | null;
  scopes: readonly string[];
  /** Jaeger's UI base URL ('' when unset): trace links on the event page. */
  jaegerUiUrl: string;
}

/**
 * The one page of the console: the signed-in user, the anti-forgery token and the hashed script and style.
 * Everything else is drawn by the script from /console/api/v1 (DOM APIs and textContent only).
 */
export function renderShell(assets: ConsoleAssets, d: ShellData): string {
  const e = escapeHtml;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${e(d.csrfToken)}">
<meta name="zm-user" content="${e(d.userId)}">
<meta name="zm-tenant" content="${e(d.tenantId ?? '')}">
<meta name="zm-scopes" content="${e(d.scopes.join(' '))}">
<meta name="zm-jaeger" content="${e(d.jaegerUiUrl)}">
<title>Zen Mesh console</title>
<link rel="stylesheet" href="${e(assets.style.path)}">
<script type="module" nonce="${e(d.nonce)}" src="${e(assets.script.path)}"></script>
</head>
<body>
<header>
<strong>Zen Mesh</strong>
<nav aria-label="Console">
<a href="#/overview">Overview</a>
<a href="#/events">Events</a>
<a href="#/dead-letters">Dead letters</a>
<a href="#/endpoints">Endpoints</a>
<a href="#/sources">Sources</a>
<a href="#/connections">Connections</a>
<a href="#/api-keys">API keys</a>
<a href="#/users">Users</a>
<a href="#/audit">Audit log</a>
<a href="#/certificates">Certificates</a>
</nav>
<span id="tenant-picker"></span>
<span id="who">${e(d.username)}</span>
<form method="post" action="/console/logout">
<input type="hidden" name="csrf" value="${e(d.csrfToken)}">
<button type="submit">Sign out</button>
</form>
</header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
<div id="status" role="status" aria-live="polite"></div>
</body>
</html>
`;
}

/** A small page of text (errors, "signed out"), with an optional link; never any script. */
export function renderMessage(title: string, text: string, link?: { href: string; label: string }): string {
  const e = escapeHtml;
  const a = link === undefined ? '' : `<p><a href="${e(link.href)}">${e(link.label)}</a></p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(title)}</title></head>
<body><main><h1>${e(title)}</h1><p role="alert">${e(text)}</p>${a}</main></body></html>
`;
}

/**
 * The callback's answer: a same-origin navigation to the console. A redirect straight from the callback would
 * still count as cross-site (it began at the token service), and the SameSite=Strict cookie would not be sent.
 */
export function renderContinue(to: string): string {
  const e = escapeHtml;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${e(to)}">
<title>Signed in</title></head>
<body><main><p>Signed in. <a href="${e(to)}">Continue to the console</a>.</p></main></body></html>
`;
}
