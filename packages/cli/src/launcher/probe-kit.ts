import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createMessageKeyring,
  createMessageSigner,
  type KeyringState,
  loadMasterKey,
  type MessageSigner,
  readKeyringFile,
} from '@zenmesh/crypto';
import { joinTrustDomain, mintJoinToken } from '@zenmesh/identity';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueSvidWithKey,
  parseSpiffeId,
  spiffeIdFor,
  spiffeIdFromCertificate,
} from '@zenmesh/pki';
import { CliError } from '../errors.js';
import { type Endpoints, paths, readEndpoints } from '../home.js';

/** What probing needs from the local state directory: addresses, the bundle, the master key and keyring. */
export interface ProbeKit {
  trustDomain: string;
  namespace: string;
  endpoints: Endpoints;
  bundle: string;
  foreignCa: CertificateAuthority;
  masterKey: Buffer;
  secretsDir: string;
  /**
   * An SVID for `sa/<service>` in `namespace`: from the mesh's CA through a probe join token (short-lived and
   * not tracked as a workload, so it never holds up a CA rotation), or signed locally by `issuer` (a foreign CA).
   */
  mint(
    service: string,
    namespace?: string,
    issuer?: CertificateAuthority,
    options?: { svidTtlSeconds?: number },
  ): Promise<{ cert: string; key: string; id: string }>;
}

export async function openProbeKit(home: string): Promise<ProbeKit> {
  const p = paths(home);
  const endpoints = readEndpoints(home) as Endpoints & { caJoin?: string };
  let cliId: string;
  let bundle: string;
  try {
    cliId = spiffeIdFromCertificate(readFileSync(join(p.svids, 'cli', 'svid.pem'), 'utf8'));
    bundle = readFileSync(join(p.ca, 'bundle.pem'), 'utf8');
  } catch (err) {
    throw new CliError('ERR_STATE', `cannot read the local trust domain under ${home}`, { cause: err });
  }
  const joinAddress = endpoints.caJoin;
  if (!joinAddress) throw new CliError('ERR_STATE', 'endpoints.json has no CA join address (caJoin)');
  const parsed = parseSpiffeId(cliId);
  const trustDomain = parsed.trustDomain;
  const namespace = parsed.namespace ?? 'zenmesh';
  const masterKey = loadMasterKey(p.secrets);
  const foreignCa = await createCertificateAuthority({
    trustDomain: 'attacker.example',
    commonName: 'verify foreign CA',
  });
  const caSpiffeId = spiffeIdFor('ca', { trustDomain, namespace });
  return {
    trustDomain,
    namespace,
    endpoints,
    bundle,
    foreignCa,
    masterKey,
    secretsDir: p.secrets,
    async mint(service, ns = namespace, issuer, options) {
      if (issuer) {
        const id = spiffeIdFor(service, { trustDomain: issuer.trustDomain, namespace: ns });
        const svid = await issueSvidWithKey({ ca: issuer, spiffeId: id, ttlSeconds: 600 });
        return { cert: svid.certPem, key: svid.keyPem, id };
      }
      const id = spiffeIdFor(service, { trustDomain, namespace: ns });
      const keyPair = await generateKeyPair();
      const svid = await joinTrustDomain({
        joinAddress,
        joinToken: mintJoinToken(masterKey, {
          spiffeId: id,
          probe: true,
          ttlSeconds: 60,
          ...(options?.svidTtlSeconds === undefined ? {} : { svidTtlSeconds: options.svidTtlSeconds }),
        }).token,
        csrPem: await createCsr({ spiffeId: id, keyPair }),
        bundlePem: bundle,
        caSpiffeId,
      });
      return { cert: svid.certificatePem, key: keyPair.privateKeyPem, id };
    },
  };
}

export const signerFor = (kit: ProbeKit, state?: KeyringState, clock?: () => number): MessageSigner =>
  createMessageSigner({
    keyring: createMessageKeyring({
      masterKey: kit.masterKey,
      cluster: kit.trustDomain,
      state: state ?? readKeyringFile(kit.secretsDir),
    }),
    ...(clock ? { clock } : {}),
  });
