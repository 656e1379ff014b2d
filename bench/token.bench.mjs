// Token service: client_credentials issuance/s and introspection/s, beside `oidc-provider` configured the
// same way in the same run: one confidential client (client_secret_post), ES256-signed JWT access tokens
// (RFC 9068 profile, audience urn:zenmesh:api, 600 s), RFC 7662 introspection authenticated by the client.
// Ours runs on the real Postgres (fresh database; introspection checks the revocation records there);
// oidc-provider runs on its in-memory adapter. Both in this process, loopback, same load generator,
// fixed request counts. Rate limits on ours are sized not to refuse.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createScratchDatabase } from '@zenmesh/db';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { percentile, writeSection } from './lib/report.mjs';

// @zenmesh/token, jose and oidc-provider resolve from the token service's package (its dev dependencies).
const tokenRequire = createRequire(new URL('../services/token/package.json', import.meta.url));
const load = async (name) => import(pathToFileURL(tokenRequire.resolve(name)).href);
const { startTokenService } = await import('../services/token/dist/index.js');
const { default: Provider } = await load('oidc-provider');
const { exportJWK, generateKeyPair } = await load('jose');

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ISSUE = 3000;
const INTROSPECT = 3000;
const WARMUP = 200;
const CONCURRENCY = 16;
const TD = 'zenmesh.local';
const silent = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child: () => silent,
  setBindings() {},
  level: 'silent',
};

async function run(total, concurrency, fn) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        await fn();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const form = (url, body) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  }).then(async (r) => {
    const json = await r.json();
    if (r.status !== 200) throw new Error(`${url}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  });

async function measure(label, tokenUrl, introspectUrl, client) {
  const issue = () => form(tokenUrl, { grant_type: 'client_credentials', scope: 'events:read', ...client });
  for (let i = 0; i < WARMUP; i++) await issue();
  const issued = await run(ISSUE, CONCURRENCY, issue);
  if (introspectUrl === null) return { label, issued, introspected: null };
  // Issued after the load: oidc-provider's in-memory adapter is an LRU that has evicted older tokens.
  const token = (await issue()).access_token;
  const probe = await form(introspectUrl, { token, ...client });
  if (probe.active !== true) throw new Error(`${label}: introspection says inactive`);
  const introspected = await run(INTROSPECT, CONCURRENCY, () => form(introspectUrl, { token, ...client }));
  return { label, issued, introspected };
}

// ---- ours ----
const ca = await createCertificateAuthority({ trustDomain: TD });
const svid = await issueSvidWithKey({
  ca,
  spiffeId: spiffeIdFor('token', { trustDomain: TD, namespace: 'zenmesh' }),
});
const scratch = await createScratchDatabase(ADMIN_URL);
const secretsDir = mkdtempSync(join(tmpdir(), 'zm-bench-token-'));
writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
const ours = await startTokenService({
  logger: silent,
  identity: { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem },
  trustDomain: TD,
  namespace: 'zenmesh',
  grpcListen: '127.0.0.1:0',
  httpListen: '127.0.0.1:0',
  databaseUrl: scratch.url,
  oauth: {
    secretsDir,
    accessTokenTtlSec: 600,
    rateLimit: { points: 1_000_000, durationSec: 60 },
    ipRateLimit: { points: 1_000_000, durationSec: 60 },
  },
});
const { client: oc, clientSecret } = await ours.oauth.clients.create({
  name: 'bench',
  authMethod: 'client_secret_post',
  grantTypes: ['client_credentials'],
  scopes: ['events:read'],
});
const zen = await measure(
  'Zen Mesh token',
  `${ours.oauth.issuer}/oauth/token`,
  `${ours.oauth.issuer}/oauth/introspect`,
  {
    client_id: oc.id,
    client_secret: clientSecret,
  },
);
await ours.stop();
await scratch.drop();
rmSync(secretsDir, { recursive: true, force: true });

// ---- oidc-provider, configured equivalently ----
// oidc-provider refuses to introspect its JWT access tokens ("Structured JWT Tokens cannot be introspected"),
// so it runs twice: JWT tokens (issuance, the equivalent of ours) and opaque tokens (issuance and introspection).
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const providerJwk = { ...(await exportJWK(privateKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
async function referenceRun(format) {
  const http = createServer();
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${http.address().port}`;
  const secret = randomBytes(32).toString('base64url');
  const provider = new Provider(base, {
    clients: [
      {
        client_id: 'bench',
        client_secret: secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'ES256',
        scope: 'events:read',
      },
    ],
    jwks: { keys: [providerJwk] },
    scopes: ['events:read'],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:zenmesh:api',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'events:read',
          audience: 'urn:zenmesh:api',
          accessTokenFormat: format,
          accessTokenTTL: 600,
          ...(format === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
  });
  http.on('request', provider.callback());
  const meta = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
  const result = await measure(
    `oidc-provider (${format} access tokens)`,
    meta.token_endpoint,
    format === 'jwt' ? null : meta.introspection_endpoint,
    {
      client_id: 'bench',
      client_secret: secret,
    },
  );
  await new Promise((resolve) => {
    http.close(resolve);
    http.closeAllConnections();
  });
  return result;
}
const referenceJwt = await referenceRun('jwt');
const referenceOpaque = await referenceRun('opaque');

const { version } = tokenRequire('oidc-provider/package.json');
const row = (r) =>
  `| ${r.label} | ${r.issued.rate.toFixed(0)} | ${r.issued.p50.toFixed(1)} / ${r.issued.p99.toFixed(1)} | ${
    r.introspected === null ? 'n/a (refused for JWTs)' : r.introspected.rate.toFixed(0)
  } | ${r.introspected === null ? '—' : `${r.introspected.p50.toFixed(1)} / ${r.introspected.p99.toFixed(1)}`} |`;
const md = `
${ISSUE} client_credentials grants and ${INTROSPECT} introspections per server, ${CONCURRENCY} in flight, after ${WARMUP}
warm-up grants; ES256 JWT access tokens (600 s, audience \`urn:zenmesh:api\`), client_secret_post. Ours persists
nothing per issued access token but checks revocation records in Postgres at introspection; oidc-provider ${version}
runs on its in-memory adapter; it will not introspect its own JWT access tokens, so its introspection figure is
for opaque tokens (a lookup in memory), run as a second configuration.

| server | issuance / s | issue p50 / p99 ms | introspection / s | introspect p50 / p99 ms |
|---|---|---|---|---|
${row(zen)}
${row(referenceJwt)}
${row(referenceOpaque)}
`;
writeSection('token', 'Token service: client_credentials and introspection', md);
console.log(md);
process.exit(0);
