import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AccessTokenVerifier, hasScopes } from '@zenmesh/auth';
import { createClientIpResolver, sendJson } from '@zenmesh/http';
import { closeHttp, listenHttp } from '@zenmesh/runtime';
import type { Logger } from '@zenmesh/telemetry';
import { createAccountRoutes } from './account-routes.js';
import { createAdminRoutes, type TokenAdminClient } from './admin-routes.js';
import { ApiRefusal, toApiError } from './api-errors.js';
import type { VerifyApiKey } from './api-key-auth.js';
import { type ApiRateLimitOptions, createApiRateLimits } from './api-rate-limit.js';
import { createApiRoutes } from './api-routes.js';
import type { BackendClients } from './backend-clients.js';
import { type AuthenticatedCaller, createCallerAuth, type ExchangeApiKey } from './caller-auth.js';
import { createConnectionRoutes } from './connection-routes.js';
import { type ConsoleSetup, mountConsole } from './console/index.js';
import { createDeliveryRoutes } from './delivery-routes.js';
import { buildOpenApi } from './openapi.js';
import { ROUTE_DOCS } from './route-docs.js';
import { renderStatusPage } from './status-page.js';

export interface BffAppOptions {
  backend: BackendClients;
  /** Asks the token service about a presented key (answers are cached by this app, default 5 s, at most 30 s). */
  verifyApiKey: VerifyApiKey;
  /** Verifies bearer access tokens (createAccessTokenVerifier from @zenmesh/auth); without it only API keys work. */
  verifyAccessToken?: AccessTokenVerifier | undefined;
  /** Exchanges an API key for an access token forwarded to the backend; without it nothing is forwarded. */
  exchangeApiKey?: ExchangeApiKey | undefined;
  /** The token service's admin methods; without them /api/v1/api-keys and /api/v1/token/keys are 404. */
  tokenAdmin?: TokenAdminClient | undefined;
  logger: Logger;
  /** Public base URL of the ingester, for `ingestUrl` in a created source's answer. */
  ingestPublicUrl?: string | undefined;
  /** How long a valid key's answer is reused; default 5 000 ms, capped at 30 000 ms. */
  authCacheTtlMs?: number;
  /**
   * Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed when recording the client IP
   * of a mutation in the audit log; default none (the TCP peer is the client).
   */
  trustedProxies?: readonly string[] | undefined;
  /** /api/v1 budgets: per client IP before authentication, per API key (or token principal) after it. */
  rateLimit?: ApiRateLimitOptions | undefined;
  /** The web console under /console (services/bff/src/console); without it /console is 404. */
  console?: ConsoleSetup | undefined;
}

export interface BffApp {
  /** The request listener, for mounting on any node:http server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens on `host:port` (port 0 = any free port) and resolves with the base URL. */
  listen(hostPort: string): Promise<string>;
  /** Stops accepting connections and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

export function createBffApp(options: BffAppOptions): BffApp {
  const { logger } = options;
  const clientIp = createClientIpResolver(options.trustedProxies ?? []);
  const routes = [
    ...createApiRoutes({ backend: options.backend, ingestPublicUrl: options.ingestPublicUrl }),
    ...createDeliveryRoutes(options.backend),
    ...createConnectionRoutes(options.backend),
    ...(options.tokenAdmin === undefined ? [] : createAdminRoutes(options.tokenAdmin)),
    ...(options.tokenAdmin === undefined ? [] : createAccountRoutes(options.tokenAdmin)),
  ];
  const openapi = buildOpenApi(routes, ROUTE_DOCS);
  const authenticate = createCallerAuth({
    verifyApiKey: options.verifyApiKey,
    verifyAccessToken: options.verifyAccessToken,
    exchangeApiKey: options.exchangeApiKey,
    authCacheTtlMs: options.authCacheTtlMs,
  });

  const limits = createApiRateLimits(options.rateLimit);

  const authorize = (req: IncomingMessage): Promise<AuthenticatedCaller> =>
    authenticate(req.headers.authorization);

  async function serveApi(req: IncomingMessage, res: ServerResponse, url: URL, log: Logger): Promise<void> {
    // Authenticate before routing or reading a body: an anonymous caller learns nothing, costs nothing —
    // and made-up credentials spend only their sender's IP budget, never a real key's.
    const ipHeaders = await limits.ip(clientIp(req));
    let caller: AuthenticatedCaller;
    try {
      caller = await authorize(req);
    } catch (err) {
      // Refused before the caller is known: the answer reports the IP budget it was counted against.
      if (err instanceof ApiRefusal) err.response.headers = { ...ipHeaders, ...err.response.headers };
      throw err;
    }
    log.setBindings({ keyId: caller.keyId });
    await routeApi(req, res, url, caller);
  }

  async function routeApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    caller: AuthenticatedCaller,
  ): Promise<void> {
    const limitHeaders = await limits.caller(caller.actor);
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
      // Scopes per route: an empty grant is nothing, `admin` is everything (see @zenmesh/auth hasScopes).
      if (!hasScopes(caller.scopes, route.scopes)) throw new ApiRefusal(403, 'forbidden');
      const metadata = await caller.forward();
      const call = metadata === undefined ? {} : { metadata };
      const audit = {
        actor: caller.actor,
        ip: clientIp(req),
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 512),
      };
      const result = await route.handle({ caller, call, req, params, query: url.searchParams, audit });
      sendJson(res, result.status, result.body, limitHeaders);
      return;
    }
    if (pathMatched) {
      const allow = routes.filter((r) => r.pattern.test(url.pathname)).map((r) => r.method);
      sendJson(res, 405, { error: 'method_not_allowed' }, { ...limitHeaders, allow: allow.join(', ') });
      return;
    }
    sendJson(res, 404, { error: 'not_found' }, limitHeaders);
  }

  const serveConsole = mountConsole(options.console, {
    logger,
    clientIp,
    authenticate: (token) => authenticate(`Bearer ${token}`),
    dispatch: routeApi,
  });

  async function serve(req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://bff.invalid');
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      const html = renderStatusPage();
      res.writeHead(200, {
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(html),
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    // The API's description is public (it holds no data) and generated from the routes (openapi.ts).
    if (url.pathname === '/api/v1/openapi.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, openapi);
      return;
    }
    if (url.pathname === '/api/v1' || url.pathname.startsWith('/api/v1/')) {
      await serveApi(req, res, url, log);
      return;
    }
    if (serveConsole !== undefined && (url.pathname === '/console' || url.pathname.startsWith('/console/'))) {
      await serveConsole(req, res, url);
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
      const extra: Record<string, string> = { ...answer.headers };
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
    listen: (hostPort) => listenHttp(server, hostPort),
    close: () => closeHttp(server),
  };
}
