import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queryable } from '@zenmesh/db';
import type { Logger } from '@zenmesh/telemetry';

export interface TokenHttpServer {
  /** Listens on `host:port` (port 0 = any free port) and resolves with the base URL. */
  listen(hostPort: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The public HTTP face of the token service. Only `/healthz` for now: the OAuth 2.0 / OIDC endpoints
 * (discovery, JWKS, token, introspect, revoke, authorize) arrive with the token-service issue, and until then
 * nothing here pretends to speak OAuth.
 */
export function createTokenHttpServer(options: { db: Queryable; logger: Logger }): TokenHttpServer {
  const { db, logger } = options;
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz') {
      send(res, 404, { error: 'not_found' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { error: 'method_not_allowed' });
      return;
    }
    // Healthy means able to answer VerifyApiKey, which needs the database.
    db.query('select 1').then(
      () => send(res, 200, { status: 'ok' }),
      (err: unknown) => {
        logger.warn({ err }, 'health check: database unreachable');
        send(res, 503, { status: 'unavailable' });
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  return {
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
