import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { Output } from './output.js';

export interface ListenOptions {
  host: string;
  port: number;
  /** The endpoint's `whsec_` signing secret; without it deliveries are shown but not verified. */
  secret?: string;
  /** Stop after this many requests (for scripts and tests); 0 = run until Ctrl-C. */
  count: number;
}

const MAX_BODY = 1024 * 1024;

/**
 * `zenmesh listen`: a local endpoint for trying the mesh. Prints every delivery and checks its Standard
 * Webhooks signature with the `standardwebhooks` package, the same library a customer would use.
 */
export function listen(options: ListenOptions, out: Output): Promise<number> {
  const verifier = options.secret ? new Webhook(options.secret) : undefined;
  let seen = 0;
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const header = (name: string) => String(req.headers[name] ?? '');
        let signature: 'valid' | 'invalid' | 'unchecked' = 'unchecked';
        let reason = '';
        if (verifier) {
          try {
            verifier.verify(body, {
              'webhook-id': header('webhook-id'),
              'webhook-timestamp': header('webhook-timestamp'),
              'webhook-signature': header('webhook-signature'),
            });
            signature = 'valid';
          } catch (err) {
            signature = 'invalid';
            reason = err instanceof WebhookVerificationError ? err.message : 'verification failed';
          }
        }
        res.writeHead(signature === 'invalid' ? 400 : 200).end();
        const record = {
          receivedAt: new Date().toISOString(),
          method: req.method,
          path: req.url,
          webhookId: header('webhook-id'),
          type: header('ce-type'),
          signature,
          ...(reason ? { reason } : {}),
          body,
        };
        if (out.json) out.line(JSON.stringify(record));
        else {
          out.line(
            `${record.receivedAt} ${record.method} ${record.path} id=${record.webhookId} type=${record.type} signature=${signature}${reason ? ` (${reason})` : ''}`,
          );
          out.line(`  ${body.length > 500 ? `${body.slice(0, 500)}…` : body}`);
        }
        seen++;
        if (options.count > 0 && seen >= options.count) server.close(() => resolve(0));
      });
    });
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const { port } = server.address() as AddressInfo;
      out.progress(
        `Listening on http://${options.host}:${port}/ ${verifier ? '(verifying signatures)' : '(signatures not verified: pass --secret)'}`,
      );
      out.progress('Press Ctrl-C to stop.');
    });
    const stop = () => server.close(() => resolve(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
