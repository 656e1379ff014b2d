import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { joinTrustDomain, mintJoinToken } from '@zenmesh/identity';
import { createCsr, generateKeyPair, spiffeIdFor } from '@zenmesh/pki';

export const TD = 'zenmesh.local';
export const NS = 'zenmesh';

/** The CA addresses and bundle of a mesh started by `zenmesh up` in `home`. */
export function meshCa(home: string): { grpc: string; join: string; bundle: string } {
  const endpoints = JSON.parse(readFileSync(join(home, 'endpoints.json'), 'utf8')) as {
    grpc: Record<string, string>;
    caJoin: string;
  };
  return {
    grpc: endpoints.grpc.ca ?? '',
    join: endpoints.caJoin,
    bundle: readFileSync(join(home, 'ca', 'bundle.pem'), 'utf8'),
  };
}

/**
 * An SVID for `sa/<service>` from the mesh's own CA, the supported way a test (or `zenmesh verify`) gets a
 * client certificate: a join token minted with the master key. `probe` (default) makes it a short-lived probe
 * SVID that the CA does not track as a workload; `probe: false` is a real join, spending the token.
 */
export async function joinAs(
  home: string,
  service: string,
  opts: { namespace?: string; probe?: boolean; token?: string } = {},
): Promise<{ cert: string; key: string; ca: string; id: string; serial: string }> {
  const ca = meshCa(home);
  const id = spiffeIdFor(service, { trustDomain: TD, namespace: opts.namespace ?? NS });
  const keyPair = await generateKeyPair();
  const token =
    opts.token ??
    mintJoinToken(loadMasterKey(join(home, 'secrets')), { spiffeId: id, probe: opts.probe ?? true }).token;
  const svid = await joinTrustDomain({
    joinAddress: ca.join,
    joinToken: token,
    csrPem: await createCsr({ spiffeId: id, keyPair }),
    bundlePem: ca.bundle,
    caSpiffeId: spiffeIdFor('ca', { trustDomain: TD, namespace: NS }),
  });
  return {
    cert: svid.certificatePem,
    key: keyPair.privateKeyPem,
    ca: svid.bundlePem.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''),
    id,
    serial: svid.serial,
  };
}
