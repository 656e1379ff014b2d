import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { JoinRequestSchema, JoinResponseSchema } from '@zenmesh/proto';
import type { IdentityProvider } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import type { CaCore, IssuedResult } from './ca-types.js';

export const JOIN_PATH = '/zenmesh.v1.CaJoinService/Join';
const MAX_BODY = 64 * 1024;

export interface JoinListener {
  address: string;
  close(): Promise<void>;
}

/** Connect protocol error codes and their HTTP statuses (https://connectrpc.com/docs/protocol#error-codes). */
const STATUS = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  unimplemented: 404,
  resource_exhausted: 429,
  internal: 500,
} as const;
type ConnectCode = keyof typeof STATUS;

/** Stable refusal reasons of Join, as the workload sees them. */
export function joinRefusal(err: unknown): { code: ConnectCode; reason: string } | undefined {
  switch ((err as { code?: unknown }).code) {
    case 'ERR_JOIN_TOKEN_INVALID':
      return { code: 'unauthenticated', reason: 'join_token_invalid' };
    case 'ERR_JOIN_TOKEN_EXPIRED':
      return { code: 'unauthenticated', reason: 'join_token_expired' };
    case 'ERR_JOIN_TOKEN_USED':
      return { code: 'unauthenticated', reason: 'join_token_used' };
    case 'ERR_JOIN_TOKEN_IDENTITY':
      return { code: 'permission_denied', reason: 'join_token_identity' };
    case 'ERR_CSR_INVALID':
    case 'ERR_KEY_INVALID':
      return { code: 'invalid_argument', reason: 'csr_invalid' };
    default:
      return undefined;
  }
}

export const issuedSvidMessage = (r: IssuedResult) => ({
  spiffeId: r.spiffeId,
  certificatePem: r.certPem,
  serial: r.serial,
  notAfter: timestampFromDate(r.notAfter),
  bundleVersion: BigInt(r.bundleVersion),
  bundlePem: r.bundlePems,
});

/**
 * The join listener: HTTPS that authenticates the CA with its own SVID (the workload checks it against the
 * bundle it was given and the CA's SPIFFE ID) and asks for no client certificate, because a joining workload
 * has none yet. It serves exactly one route, CaJoinService/Join as a Connect unary call; the one-time join
 * token in the request is the credential. Everything else is 404.
 */
export async function startJoinListener(opts: {
  core: CaCore;
  identity: IdentityProvider;
  listen: string;
  logger: Logger;
}): Promise<JoinListener> {
  const { core, logger } = opts;
  const context = () => ({ cert: opts.identity.current().cert, key: opts.identity.current().key });
  const server: Server = createServer({ ...context(), minVersion: 'TLSv1.3' }, (req, res) => {
    const send = (status: number, type: string, body: Uint8Array | string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const fail = (code: ConnectCode, message: string) =>
      send(STATUS[code], 'application/json', JSON.stringify({ code, message }));
    if (req.url !== JOIN_PATH) return fail('unimplemented', 'only CaJoinService/Join is served here');
    if (req.method !== 'POST') return fail('unimplemented', 'POST only');
    if (req.headers['content-type'] !== 'application/proto')
      return send(415, 'text/plain', 'application/proto only');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        fail('resource_exhausted', 'request too large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      let request: ReturnType<typeof fromBinary<typeof JoinRequestSchema>>;
      try {
        request = fromBinary(JoinRequestSchema, Buffer.concat(chunks));
      } catch {
        return fail('invalid_argument', 'malformed_request');
      }
      core.join(request.joinToken, request.csrPem).then(
        (issued) => {
          logger.info({ spiffeId: issued.spiffeId, serial: issued.serial }, 'workload joined');
          send(
            200,
            'application/proto',
            toBinary(JoinResponseSchema, create(JoinResponseSchema, { svid: issuedSvidMessage(issued) })),
          );
        },
        (err: unknown) => {
          const refusal = joinRefusal(err);
          // The token itself never reaches the log; the refusal reason and the peer address do.
          logger.warn(
            { reason: refusal?.reason ?? 'internal', remote: req.socket.remoteAddress },
            'join refused',
          );
          if (refusal) return fail(refusal.code, refusal.reason);
          logger.error({ err }, 'join failed');
          return fail('internal', 'internal');
        },
      );
    });
  });
  const listener = () => server.setSecureContext({ ...context(), minVersion: 'TLSv1.3' });
  opts.identity.addIdentityCertificateListener(listener);
  const [host, port] = [
    opts.listen.slice(0, opts.listen.lastIndexOf(':')),
    Number(opts.listen.slice(opts.listen.lastIndexOf(':') + 1)),
  ];
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        opts.identity.removeIdentityCertificateListener(listener);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
