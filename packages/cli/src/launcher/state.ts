import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecretBox, loadMasterKey, MASTER_KEY_FILE, randomToken, sha256Hex } from '@zenmesh/crypto';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import type { TlsIdentity } from '@zenmesh/rpc';
import { paths } from '../home.js';

export interface TrustDomainOptions {
  trustDomain: string;
  namespace: string;
}

export interface LocalState {
  home: string;
  masterKey: Buffer;
  ca: CertificateAuthority;
  /** SHA-256 of the admin API key: all the token service is ever given. */
  adminKeySha256: string;
  /** True when this run created the admin key (it is printed once then). */
  adminKeyCreated: boolean;
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
 * Creates (first run) or opens (later runs) the local trust domain under the state directory: the master
 * key, the development CA (its private key sealed with the master key), the trust bundle and the admin key.
 */
export async function ensureLocalState(home: string, options: TrustDomainOptions): Promise<LocalState> {
  const p = paths(home);
  for (const dir of [home, p.secrets, p.ca, p.svids, p.data, p.logs]) mkdirPrivate(dir);

  const masterFile = join(p.secrets, MASTER_KEY_FILE);
  if (!existsSync(masterFile)) writePrivate(masterFile, `${randomBytes(32).toString('base64')}\n`);
  const masterKey = loadMasterKey(p.secrets);
  const box = createSecretBox(masterKey, 'ca-key');

  const caCertFile = join(p.ca, 'ca.pem');
  const caKeyFile = join(p.ca, 'ca-key.sealed');
  let ca: CertificateAuthority;
  if (existsSync(caCertFile) && existsSync(caKeyFile)) {
    const certPem = readFileSync(caCertFile, 'utf8');
    const keyPem = box.open(readFileSync(caKeyFile, 'utf8').trim(), options.trustDomain);
    ca = { certPem, keyPem, trustDomain: options.trustDomain };
  } else {
    ca = await createCertificateAuthority({
      trustDomain: options.trustDomain,
      commonName: 'Zen Mesh local CA',
    });
    writeFileSync(caCertFile, ca.certPem, { mode: 0o644 });
    writePrivate(caKeyFile, `${box.seal(ca.keyPem, options.trustDomain)}\n`);
  }
  const bundleFile = join(p.ca, 'bundle.pem');
  writeFileSync(bundleFile, ca.certPem.endsWith('\n') ? ca.certPem : `${ca.certPem}\n`, { mode: 0o644 });

  let adminKeyCreated = false;
  if (!existsSync(p.adminKey)) {
    writePrivate(p.adminKey, `zm_${randomToken(32)}\n`);
    adminKeyCreated = true;
  }
  chmodSync(p.adminKey, 0o600);
  const adminKeySha256 = sha256Hex(readFileSync(p.adminKey, 'utf8').trim());

  return { home, masterKey, ca, adminKeySha256, adminKeyCreated, bundleFile };
}

export interface SvidFiles {
  cert: string;
  key: string;
  ca: string;
  spiffeId: string;
  serial: string;
  notAfter: Date;
}

/**
 * Issues a fresh X509-SVID for one workload and writes it under svids/<service>/. Until the CA service takes
 * over issuance and renewal, launch-time SVIDs live for DEV_SVID_TTL_SECONDS and are re-issued at every start.
 */
export const DEV_SVID_TTL_SECONDS = 24 * 3600;

export async function issueLocalSvid(
  state: LocalState,
  service: string,
  options: TrustDomainOptions,
): Promise<SvidFiles> {
  const dir = join(paths(state.home).svids, service);
  mkdirPrivate(dir);
  const spiffeId = spiffeIdFor(service, options);
  const svid = await issueSvidWithKey({ ca: state.ca, spiffeId, ttlSeconds: DEV_SVID_TTL_SECONDS });
  const files = { cert: join(dir, 'svid.pem'), key: join(dir, 'svid-key.pem'), ca: state.bundleFile };
  writeFileSync(files.cert, svid.certPem, { mode: 0o644 });
  writePrivate(files.key, svid.keyPem);
  return { ...files, spiffeId, serial: svid.serial, notAfter: svid.notAfter };
}

export const readIdentity = (files: { cert: string; key: string; ca: string }): TlsIdentity => ({
  cert: readFileSync(files.cert, 'utf8'),
  key: readFileSync(files.key, 'utf8'),
  ca: readFileSync(files.ca, 'utf8'),
});
