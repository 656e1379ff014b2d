import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@zenmesh/telemetry';
import { ApiRefusal, toApiError, unauthenticated } from './api-errors.js';
import {
  type ApiCaller,
  bearerToken,
  createCachedApiKeyVerifier,
  type VerifyApiKey,
} from './api-key-auth.js';
import { createApiRoutes } from './api-routes.js';
import type { BackendClients } from './backend-clients.js';
import { renderStatusPage } from './status-page.js';

export interface BffAppOptions {
  backend: BackendClients;
  /** Asks the token service about a presented key (answers are cached by this app, at most 30 s). */
  verifyApiKey: VerifyApiKey;
  logger: Logger;
  /** Public base URL of the ingester, for `ingestUrl` in a created source's answer. */
  ingestPublicUrl?: string | undefined;
  /** How long a valid key's answer is reused; capped at 30 000 ms. */
  authCacheTtlMs?: number;
}

export interface BffApp {
  /** The request listener, for mounting on any node:http server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens on `host:port` (port 0 = any free port) and resolves with the base URL. */
  listen(hostPort: string): Promise<string>;
  /** Stops accepting connections and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function createBffApp(options: BffAppOptions): BffApp {
  const { logger } = options;
  const routes = createApiRoutes({ backend: options.backend, ingestPublicUrl: options.ingestPublicUrl });
  const authenticate = createCachedApiKeyVerifier(
    options.verifyApiKey,
    options.authCacheTtlMs === undefined ? {} : { ttlMs: options.authCacheTtlMs },
  );

  async function authorize(req: IncomingMessage): Promise<ApiCaller> {
    const key = bearerToken(req.headers.authorization);
    if (key === null) throw unauthenticated();
    const caller = await authenticate(key);
    if (caller === null) throw unauthenticated();
    // Only the `admin` scope exists today; per-route scopes come with the token-service issue.
    if (!caller.scopes.includes('admin')) throw new ApiRefusal(403, 'forbidden');
    return caller;
  }

  async function serveApi(req: IncomingMessage, res: ServerResponse, url: URL, log: Logger): Promise<void> {
    // Authenticate before routing or reading a body: an anonymous caller learns nothing, costs nothing.
    const caller = await authorize(req);
    log.setBindings({ keyId: caller.keyId });
    let pathMatched = false;
    for (const route of routes) {
      const match = route.pattern.exec(url.pathname);
      if (match === null) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      let params: string[];
      try {
        params = match.slice(1).map((p) => decodeURIComponent(p ?? ''));
      } catch {
        throw new ApiRefusal(400, 'invalid_argument', 'malformed percent-encoding in path');
      }
      const result = await route.handle({ caller, req, params, query: url.searchParams });
      sendJson(res, result.status, result.body);
      return;
    }
    if (pathMatched) {
      const allow = routes.filter((r) => r.pattern.test(url.pathname)).map((r) => r.method);
      sendJson(res, 405, { error: 'method_not_allowed' }, { allow: allow.join(', ') });
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  }

  async function serve(req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://bff.invalid');
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      const html = renderStatusPage();
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(html),
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    if (url.pathname === '/api/v1' || url.pathname.startsWith('/api/v1/')) {
      await serveApi(req, res, url, log);
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    // Only method and path are logged: never headers (the API key) nor bodies (source secrets).
    const log = logger.child({ method: req.method, path: (req.url ?? '/').split('?')[0] });
    res.once('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      log.info({ status: res.statusCode, durationMs: Math.round(durationMs * 10) / 10 }, 'request');
    });
    serve(req, res, log).catch((err: unknown) => {
      const answer = toApiError(err);
      // The detail of a server-side failure goes to the log only; a peer being down is a warning, not a bug.
      if (answer.status === 503) log.warn({ err }, 'request failed: upstream unavailable');
      else if (answer.status >= 500) log.error({ err }, 'request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const extra: Record<string, string> = {};
      if (answer.status === 401) {
        // RFC 6750 §3: a 401 names the scheme; `invalid_token` when a credential was presented.
        extra['www-authenticate'] =
          req.headers.authorization === undefined
            ? 'Bearer realm="zenmesh"'
            : 'Bearer realm="zenmesh", error="invalid_token"';
      }
      // The rest of an oversized body is not read; closing the connection keeps it from being parsed as
      // the next request.
      if (answer.status === 413) extra.connection = 'close';
      sendJson(res, answer.status, answer.body, extra);
    });
  }

  const server: Server = createServer(handle);
  // Slow clients must not hold sockets forever (slowloris); values well above any sane API call.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  return {
    handle,
    listen(hostPort) {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(hostPort);
      if (m === null) throw new TypeError(`listen: expected host:port, got ${JSON.stringify(hostPort)}`);
      const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
      return new Promise<string>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(m[2]), host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
        });
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}
