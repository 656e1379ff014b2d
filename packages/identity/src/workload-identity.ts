import { timestampDate } from '@bufbuild/protobuf/wkt';
import { createCsr, generateKeyPair, signRenewalProof, spiffeIdFor, validateSvid } from '@zenmesh/pki';
import { CaService, type IssuedSvid } from '@zenmesh/proto';
import {
  createIdentityProvider,
  createMeshChannel,
  type IdentityProvider,
  type MeshChannel,
  type MessageIntegrity,
  type TlsIdentity,
} from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { IdentityError } from './errors.js';
import { joinTrustDomain } from './join-client.js';
import { createPeerGuard, type PeerGuard } from './peer-guard.js';
import { createRevocationList, type RevocationList } from './revocation-list.js';
import { readSvidFiles, type SvidFilePaths, writeSvidFiles } from './svid-files.js';

export interface WorkloadIdentityOptions {
  /** Service account name: the SPIFFE ID is spiffe://<trustDomain>/ns/<namespace>/sa/<service>. */
  service: string;
  trustDomain: string;
  namespace: string;
  /** host:port of the CA's mTLS gRPC server (Renew, watches). */
  caAddress: string;
  /** host:port of the CA's join listener. */
  caJoinAddress: string;
  /** PEM bundle given out of band (ZENMESH_TLS_CA): authenticates the CA at join. */
  bundlePem: string;
  /** Signs the agent's own calls to the CA (renewals, watches) like every mesh call; `false` for mTLS alone. */
  integrity: MessageIntegrity | false;
  /** One-time join token (ZENMESH_JOIN_TOKEN); not needed when `files` hold a still-valid SVID. */
  joinToken?: string;
  /** Where to keep the SVID, key and bundle (rewritten on every change), e.g. for the CLI. */
  files?: SvidFilePaths;
  /** host:port where this workload serves gRPC, reported to the CA for rotation health probes. */
  servingAddress?: string;
  /** Renew when this fraction of the lifetime has passed. Default 0.5 (DESIGN.md). */
  renewFraction?: number;
  /**
   * Wait this long after installing a bundle before confirming it to the CA. Only for an agent that keeps
   * `files` for another process which polls them: that process must have read the bundle before the CA,
   * counting on the confirmation, lets a new CA sign peers. Default 0.
   */
  ackDelayMs?: number;
  logger: Logger;
}

export interface SvidState {
  spiffeId: string;
  serial: string;
  notAfter: Date;
  bundleVersion: number;
  renewals: number;
}

export interface WorkloadIdentity {
  readonly spiffeId: string;
  /** Feed this to createMeshServer / createMeshChannel: they pick up every renewal on the next handshake. */
  readonly provider: IdentityProvider;
  readonly revocations: RevocationList;
  /** Per-call peer check (SVID profile + revocation): plug into server admission and checkServerIdentity. */
  readonly guard: PeerGuard;
  state(): SvidState;
  renewNow(): Promise<void>;
  setServingAddress(address: string): void;
  /** Resolves when the bundle version `v` (or newer) is installed. */
  waitForBundle(version: number): Promise<void>;
  stop(): void;
}

const bundleText = (pems: readonly string[]) => pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');

/**
 * The workload side of the mesh's identity: joins with a one-time token (the private key is made here and
 * never leaves: the CA gets a CSR), renews over mTLS at half the SVID's lifetime (and at once when the CA
 * asks, during a rotation), installs every trust bundle the CA streams and acknowledges it, and keeps the
 * revocation list current. Every change goes through one IdentityProvider, so grpc-js servers and channels
 * built from it hot-swap credentials on their next handshake without dropping in-flight calls.
 */
export async function startWorkloadIdentity(opts: WorkloadIdentityOptions): Promise<WorkloadIdentity> {
  const { logger, trustDomain, namespace } = opts;
  const spiffeId = spiffeIdFor(opts.service, { trustDomain, namespace });
  const caSpiffeId = spiffeIdFor('ca', { trustDomain, namespace });
  const fraction = opts.renewFraction ?? 0.5;
  if (!(fraction > 0 && fraction < 1)) throw new TypeError('renewFraction must be between 0 and 1');
  const revocations = createRevocationList();
  const guard = createPeerGuard({ trustDomain, revocations });
  let servingAddress = opts.servingAddress ?? '';
  let stopped = false;
  const stopController = new AbortController();

  let svid: SvidState;
  let identity: TlsIdentity;
  const resumed = opts.files ? readSvidFiles(opts.files) : undefined;
  const stillGood = (() => {
    if (!resumed) return undefined;
    try {
      const v = validateSvid(resumed.cert, {
        bundlePems: [resumed.ca],
        trustDomain,
        expectedSpiffeId: spiffeId,
      });
      // Resume only with most of a lifetime left; otherwise a fresh join is the safer start.
      return v.notAfter.getTime() - Date.now() > 5_000 ? v : undefined;
    } catch {
      return undefined;
    }
  })();
  if (resumed && stillGood) {
    identity = resumed;
    svid = {
      spiffeId,
      serial: stillGood.serial,
      notAfter: stillGood.notAfter,
      bundleVersion: 0,
      renewals: 0,
    };
  } else {
    if (!opts.joinToken) {
      throw new IdentityError(
        'ERR_NO_CREDENTIALS',
        'no_join_token',
        `${spiffeId} has no valid SVID and no join token`,
      );
    }
    const keyPair = await generateKeyPair();
    const issued = await joinTrustDomain({
      joinAddress: opts.caJoinAddress,
      joinToken: opts.joinToken,
      csrPem: await createCsr({ spiffeId, keyPair }),
      bundlePem: opts.bundlePem,
      caSpiffeId,
    });
    identity = { cert: issued.certificatePem, key: keyPair.privateKeyPem, ca: bundleText(issued.bundlePem) };
    svid = stateOf(issued, 0);
    logger.info({ spiffeId, serial: svid.serial, notAfter: svid.notAfter }, 'joined the trust domain');
  }
  const provider = createIdentityProvider(identity);
  const persist = () => {
    if (opts.files) writeSvidFiles(opts.files, provider.current());
  };
  persist();

  const channel: MeshChannel = createMeshChannel({
    address: opts.caAddress,
    identity: provider,
    peer: 'ca',
    trustDomain,
    namespace,
    integrity: opts.integrity,
    timeoutMs: 10_000,
  });
  const ca = channel.client(CaService);
  const bundleWaiters = new Set<{ version: number; resolve: () => void }>();

  const installBundle = (version: number, pems: readonly string[]) => {
    if (version < svid.bundleVersion) return false;
    const ca = bundleText(pems);
    svid = { ...svid, bundleVersion: version };
    if (provider.current().ca !== ca) {
      provider.update({ ...provider.current(), ca });
      persist();
    }
    for (const w of bundleWaiters)
      if (version >= w.version) {
        bundleWaiters.delete(w);
        w.resolve();
      }
    return true;
  };

  let renewTimer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> | undefined;
  let failures = 0;
  const schedule = () => {
    if (stopped) return;
    if (renewTimer) clearTimeout(renewTimer);
    const left = svid.notAfter.getTime() - Date.now();
    // After a failure, retry sooner but never hammer the CA: 0.5 s doubling up to a quarter of what is left.
    const delay =
      failures === 0 ? left * fraction : Math.min(500 * 2 ** (failures - 1), Math.max(left / 4, 500));
    renewTimer = setTimeout(() => void renew(), Math.max(delay, 50));
    renewTimer.unref();
  };

  const renew = (): Promise<void> => {
    renewing ??= (async () => {
      try {
        const keyPair = await generateKeyPair();
        const csrPem = await createCsr({ spiffeId, keyPair });
        const current = provider.current();
        const res = await ca.renew({
          csrPem,
          currentCertificatePem: current.cert,
          proof: signRenewalProof(current.key, csrPem),
        });
        if (!res.svid) {
          throw new IdentityError('ERR_CA_MALFORMED_ANSWER', 'malformed_response', 'empty RenewResponse');
        }
        const version = Number(res.svid.bundleVersion);
        const ca2 = version >= svid.bundleVersion ? bundleText(res.svid.bundlePem) : current.ca;
        provider.update({ cert: res.svid.certificatePem, key: keyPair.privateKeyPem, ca: ca2 });
        svid = {
          ...stateOf(res.svid, svid.renewals + 1),
          bundleVersion: Math.max(version, svid.bundleVersion),
        };
        persist();
        failures = 0;
        logger.info({ serial: svid.serial, notAfter: svid.notAfter }, 'SVID renewed');
      } catch (err) {
        failures++;
        logger.warn({ err, failures }, 'SVID renewal failed; retrying');
      } finally {
        renewing = undefined;
        schedule();
      }
    })();
    return renewing;
  };
  schedule();

  /** Keeps a server stream open for the life of the workload, reconnecting with capped backoff. */
  const keepWatching = async (
    name: string,
    open: () => AsyncIterable<unknown>,
    onMessage: (m: never) => Promise<void> | void,
  ) => {
    let backoff = 200;
    while (!stopped) {
      try {
        for await (const message of open()) {
          backoff = 200;
          await onMessage(message as never);
        }
      } catch (err) {
        if (stopped) return;
        logger.debug({ err, stream: name }, 'watch interrupted; reconnecting');
      }
      await new Promise((r) => setTimeout(r, backoff).unref());
      backoff = Math.min(backoff * 2, 5_000);
    }
  };
  const signal = stopController.signal;
  // Re-opened when the serving address changes, so the CA learns where to probe us.
  let bundleWatch = new AbortController();
  void keepWatching(
    'trust-bundle',
    () => {
      bundleWatch = new AbortController();
      return ca.watchTrustBundle(
        { servingAddress },
        { signal: AbortSignal.any([signal, bundleWatch.signal]) },
      );
    },
    async (m: { version: bigint; caCertificatesPem: string[]; renewNow: boolean }) => {
      const version = Number(m.version);
      if (installBundle(version, m.caCertificatesPem)) {
        logger.info({ version }, 'trust bundle installed');
        if (opts.ackDelayMs) await new Promise((r) => setTimeout(r, opts.ackDelayMs));
        await ca
          .ackTrustBundle({ version: m.version })
          .catch((err: unknown) => logger.warn({ err }, 'bundle ack failed'));
      }
      if (m.renewNow) void renew();
    },
  );
  void keepWatching(
    'revocations',
    () => ca.watchRevocations({}, { signal }),
    (m: { version: bigint; serials: string[] }) => {
      if (revocations.update(Number(m.version), m.serials))
        logger.info({ revoked: m.serials.length }, 'revocation list updated');
    },
  );

  return {
    spiffeId,
    provider,
    revocations,
    guard,
    state: () => svid,
    renewNow: renew,
    setServingAddress(address) {
      if (address === servingAddress) return;
      servingAddress = address;
      bundleWatch.abort();
    },
    waitForBundle: (version) =>
      svid.bundleVersion >= version
        ? Promise.resolve()
        : new Promise((resolve) => bundleWaiters.add({ version, resolve })),
    stop() {
      stopped = true;
      stopController.abort();
      if (renewTimer) clearTimeout(renewTimer);
      channel.close();
    },
  };
}

function stateOf(issued: IssuedSvid, renewals: number): SvidState {
  if (!issued.notAfter) {
    throw new IdentityError('ERR_CA_MALFORMED_ANSWER', 'malformed_response', 'issued SVID without notAfter');
  }
  return {
    spiffeId: issued.spiffeId,
    serial: issued.serial,
    notAfter: timestampDate(issued.notAfter),
    bundleVersion: Number(issued.bundleVersion),
    renewals,
  };
}
