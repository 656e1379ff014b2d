import { request } from 'node:https';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { spiffeIdFromCertificate } from '@zenmesh/pki';
import { type IssuedSvid, JoinRequestSchema, JoinResponseSchema } from '@zenmesh/proto';
import { IdentityError } from './errors.js';

const JOIN_PATH = '/zenmesh.v1.CaJoinService/Join';

/**
 * Calls CaJoinService/Join on the CA's join listener (Connect unary over HTTPS). The CA is authenticated
 * before the token leaves: its certificate must chain to `bundlePem` (the bundle the workload was given out of
 * band) and carry `caSpiffeId`; the host name plays no part (X509-SVID §5).
 */
export function joinTrustDomain(opts: {
  joinAddress: string;
  joinToken: string;
  csrPem: string;
  bundlePem: string;
  caSpiffeId: string;
  timeoutMs?: number;
}): Promise<IssuedSvid> {
  const colon = opts.joinAddress.lastIndexOf(':');
  const host = opts.joinAddress.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(opts.joinAddress.slice(colon + 1));
  const body = toBinary(
    JoinRequestSchema,
    create(JoinRequestSchema, { joinToken: opts.joinToken, csrPem: opts.csrPem }),
  );
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method: 'POST',
        path: JOIN_PATH,
        ca: opts.bundlePem,
        minVersion: 'TLSv1.3',
        servername: 'ca.join.invalid',
        headers: { 'content-type': 'application/proto', 'content-length': body.length },
        timeout: opts.timeoutMs ?? 10_000,
        agent: false,
        checkServerIdentity: (_host, cert) => {
          try {
            const id = spiffeIdFromCertificate(cert);
            return id === opts.caSpiffeId
              ? undefined
              : new Error(`join listener is ${id}, not ${opts.caSpiffeId}`);
          } catch (err) {
            return err as Error;
          }
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks);
          if (res.statusCode === 200) {
            try {
              const svid = fromBinary(JoinResponseSchema, text).svid;
              if (!svid) {
                throw new IdentityError(
                  'ERR_CA_MALFORMED_ANSWER',
                  'malformed_response',
                  'empty JoinResponse',
                );
              }
              resolve(svid);
            } catch (cause) {
              reject(
                new IdentityError(
                  'ERR_JOIN_REFUSED',
                  'malformed_response',
                  'the CA answered an unreadable JoinResponse',
                  { cause },
                ),
              );
            }
            return;
          }
          let reason = `http_${res.statusCode}`;
          try {
            reason = (JSON.parse(text.toString('utf8')) as { message?: string }).message ?? reason;
          } catch {
            // Not a Connect error body; the status says enough.
          }
          reject(new IdentityError('ERR_JOIN_REFUSED', reason, `the CA refused to join: ${reason}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('join timed out')));
    req.on('error', (cause) =>
      reject(
        new IdentityError(
          'ERR_JOIN_UNREACHABLE',
          'unreachable',
          `cannot reach the CA join listener at ${opts.joinAddress}: ${cause.message}`,
          { cause },
        ),
      ),
    );
    req.end(body);
  });
}
