import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Queryable } from '@zenmesh/db';
import { closeHttp, listenHttp } from '@zenmesh/runtime';
import type { Logger } from '@zenmesh/telemetry';
import { OAuthError } from './errors.js';
import { sendJson } from './http-util.js';

export interface TokenHttpServer {
  /** Listens on `host:port` (port 0 = any free port) and resolves with the base URL. */
  listen(hostPort: string): Promise<string>;
  /** Mounts the OAuth endpoints (after listen, once the issuer URL is known). */
  mount(router: HttpRouter): void;
  close(): Promise<void>;
}

/** Answers a request it knows and resolves true, or resolves false to let the server answer 404. */
export type HttpRouter = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** The public HTTP face of the token service: `/healthz`, plus the OAuth 2.0 / OIDC endpoints once mounted. */
export function createTokenHttpServer(options: { db: Queryable; logger: Logger }): TokenHttpServer {
  const { db, logger } = options;
  let router: HttpRouter | undefined;

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
        return;
      }
      // Healthy means able to answer VerifyApiKey, which needs the database.
      try {
        await db.query('select 1');
        sendJson(res, 200, { status: 'ok' });
      } catch (err) {
        logger.warn({ err }, 'health check: database unreachable');
        sendJson(res, 503, { status: 'unavailable' });
      }
      return;
    }
    if (router !== undefined && (await router(req, res, url))) return;
    sendJson(res, 404, { error: 'not_found' });
  };

  const server: Server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof OAuthError) {
        const extra: Record<string, string> = { ...err.headers };
        // RFC 6749 §5.2: a failed Basic authentication answers 401 with the scheme the client used.
        if (err.status === 401) extra['www-authenticate'] = 'Basic realm="zenmesh"';
        const { retryAfter } = err;
        sendJson(
          res,
          err.status,
          {
            error: err.error,
            error_description: err.message,
            ...(retryAfter === undefined ? {} : { retry_after: retryAfter }),
          },
          extra,
        );
        return;
      }
      logger.error({ err, path: (req.url ?? '/').split('?')[0] }, 'token http request failed');
      sendJson(res, 500, { error: 'server_error' });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  return {
    mount(r) {
      router = r;
    },
    listen: (hostPort) => listenHttp(server, hostPort),
    close: () => closeHttp(server),
  };
}
