import { createServer, type Server } from 'node:http';
import type { Metrics } from '@zenmesh/telemetry';
import { listenHttp } from './http-listen.js';

export interface MetricsServer {
  /** The scrape URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  readonly server: Server;
}

/**
 * The process's own metrics listener: `GET /metrics` (and HEAD) only, 404 for any other path and 405 for any
 * other method. It is separate from the service's public face so it can stay on an internal network (or
 * loopback) while the face is published.
 */
export async function startMetricsServer(metrics: Metrics, hostPort: string): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    metrics.handle(req, res);
  });
  server.requestTimeout = 10_000;
  const base = await listenHttp(server, hostPort);
  return { url: `${base}/metrics`, server };
}
