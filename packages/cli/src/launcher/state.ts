import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey, MASTER_KEY_FILE, randomToken, sha256Hex } from '@zenmesh/crypto';
import { mintJoinToken, type ServiceIdentity, startServiceIdentity } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import type { MessageIntegrity } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { paths } from '../home.js';

export interface TrustDomainOptions {
  trustDomain: string;
  namespace: string;
}

export interface LocalState {
  home: string;
  /** Mints join tokens (the CA service alone accepts them, once); never leaves this process otherwise. */
  masterKey: Buffer;
  /** SHA-256 of the admin API key: all the token service is ever given. */
  adminKeySha256: string;
  /** True when this run created the admin key (it is printed once then). */
  adminKeyCreated: boolean;
  /** The trust bundle the CA service keeps current (public): what every workload is given out of band. */
  bundleFile: string;
}

const writePrivate = (file: string, data: string) => {
  writeFileSync(file, data, { mode: 0o600 });
  chmodSync(file, 0o600);
};

const mkdirPrivate = (dir: string) => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
};

/**
 * Creates (first run) or opens (later runs) the local state directory: the master key and the admin key.
 * The CA keys are the `ca` service's own business (sealed under `secrets/ca/`); the launcher only mints join
 * tokens with the master key and reads the bundle the CA writes.
 */
export async function ensureLocalState(home: string, _options: TrustDomainOptions): Promise<LocalState> {
  const p = paths(home);
  for (const dir of [home, p.secrets, p.ca, p.svids, p.data, p.logs]) mkdirPrivate(dir);

  const masterFile = join(p.secrets, MASTER_KEY_FILE);
  if (!existsSync(masterFile)) writePrivate(masterFile, `${randomBytes(32).toString('base64')}\n`);
  const masterKey = loadMasterKey(p.secrets);

  let adminKeyCreated = false;
  if (!existsSync(p.adminKey)) {
    writePrivate(p.adminKey, `zm_${randomToken(32)}\n`);
    adminKeyCreated = true;
  }
  chmodSync(p.adminKey, 0o600);
  const adminKeySha256 = sha256Hex(readFileSync(p.adminKey, 'utf8').trim());

  return { home, masterKey, adminKeySha256, adminKeyCreated, bundleFile: join(p.ca, 'bundle.pem') };
}

/** A one-time join token for one service's SPIFFE ID (10 minutes: it is used within seconds of minting). */
export const joinTokenFor = (state: LocalState, service: string, options: TrustDomainOptions): string =>
  mintJoinToken(state.masterKey, { spiffeId: spiffeIdFor(service, options) }).token;

export interface SvidFiles {
  cert: string;
  key: string;
  ca: string;
  spiffeId: string;
  identity: ServiceIdentity;
}

/**
 * Runs a workload agent in the launcher on behalf of `service` and keeps its SVID, key and bundle in PEM files
 * under svids/<service>/: the CLI's own identity (`sa/cli`), and the fallback for a service whose main.ts does
 * not run the agent itself (it reads the files and follows them). The agent joins with a fresh token, renews,
 * installs and confirms bundles; `ackDelayMs` gives a process that polls the files time to read a new bundle
 * before the CA is told it is installed.
 */
export async function issueLocalSvid(
  state: LocalState,
  service: string,
  options: TrustDomainOptions & {
    caAddress: string;
    caJoinAddress: string;
    /** Signs the agent's calls to the CA (the launcher's own message integrity). */
    integrity: MessageIntegrity;
    logger: Logger;
    ackDelayMs?: number;
  },
): Promise<SvidFiles> {
  const dir = join(paths(state.home).svids, service);
  mkdirPrivate(dir);
  const files = {
    cert: join(dir, 'svid.pem'),
    key: join(dir, 'svid-key.pem'),
    bundle: join(dir, 'bundle.pem'),
  };
  const identity = await startServiceIdentity({
    service,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    logger: options.logger,
    integrity: options.integrity,
    agent: {
      caAddress: options.caAddress,
      caJoinAddress: options.caJoinAddress,
      bundlePem: readFileSync(state.bundleFile, 'utf8'),
      joinToken: joinTokenFor(state, service, options),
      files,
      ...(options.ackDelayMs ? { ackDelayMs: options.ackDelayMs } : {}),
    },
  });
  return { cert: files.cert, key: files.key, ca: files.bundle, spiffeId: identity.spiffeId, identity };
}
