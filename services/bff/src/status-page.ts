/** The read-only page at `/`: no data, no session yet (the dashboard arrives with its own issue). */
export function renderStatusPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zen Mesh BFF</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#f2f2f2;padding:0 .25rem}</style>
</head>
<body>
<h1>Zen Mesh &mdash; bff</h1>
<p>This is the admin API of a Zen Mesh cluster. It is running: <a href="/healthz">/healthz</a>.</p>
<p>The API lives under <code>/api/v1</code> and takes an API key as <code>Authorization: Bearer zm_&hellip;</code>.
The launcher writes the cluster admin key to <code>$ZENMESH_HOME/admin-api-key</code>; the <code>zenmesh</code> CLI uses it.</p>
<h2>Documentation (in the repository)</h2>
<ul>
<li><code>services/bff/README.md</code> &mdash; every route of <code>/api/v1</code>, with examples</li>
<li><code>services/token/README.md</code> &mdash; API keys</li>
<li><code>docs/</code> &mdash; architecture, security matrix, operations</li>
</ul>
</body>
</html>
`;
}
