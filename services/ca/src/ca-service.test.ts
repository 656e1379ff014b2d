import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { CaService } from '@zenmesh/proto';
import { Code, createMeshChannel, type MeshChannel, type TlsIdentity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCaService, startCaService } from './ca-service.js';
import { loadTrustBundle } from './trust-bundle.js';

const TRUST_DOMAIN = 'zenmesh.local';
const NAMESPACE = 'zenmesh';
const logger = createLogger('ca-test', { level: 'silent' });

let dir: string;
let current: CertificateAuthority;
let next: CertificateAuthority;
let bundlePath: string;
let service: RunningCaService;
const channels: MeshChannel[] = [];

async function identityFor(ca: CertificateAuthority, name: string): Promise<TlsIdentity> {
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor(name, { trustDomain: ca.trustDomain, namespace: NAMESPACE }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: current.certPem };
}

async function clientAs(identity: TlsIdentity) {
  const channel = createMeshChannel({
    address: service.ready.grpc,
    identity,
    peer: 'ca',
    trustDomain: TRUST_DOMAIN,
    namespace: NAMESPACE,
    timeoutMs: 3000,
  });
  channels.push(channel);
  return channel.client(CaService);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zm-ca-test-'));
  current = await createCertificateAuthority({ trustDomain: TRUST_DOMAIN });
  next = await createCertificateAuthority({ trustDomain: TRUST_DOMAIN, commonName: 'Zen Mesh CA next' });
  bundlePath = join(dir, 'bundle.pem');
  // During a rotation the bundle carries old and new roots; serve both, in file order.
  writeFileSync(bundlePath, `${current.certPem}\n${next.certPem}`);
  service = await startCaService({
    logger,
    identity: await identityFor(current, 'ca'),
    trustDomain: TRUST_DOMAIN,
    namespace: NAMESPACE,
    grpcListen: '127.0.0.1:0',
    bundlePath,
  });
});

afterAll(async () => {
  for (const channel of channels) channel.close();
  await service?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GetTrustBundle over mTLS', () => {
  it('serves the trust domain and every CA certificate of the bundle to any mesh workload', async () => {
    for (const caller of ['bff', 'ingester', 'egress', 'backend']) {
      const ca = await clientAs(await identityFor(current, caller));
      const res = await ca.getTrustBundle({});
      expect(res.trustDomain).toBe(TRUST_DOMAIN);
      expect(res.caCertificatesPem).toHaveLength(2);
      const fingerprints = res.caCertificatesPem.map((pem) => new X509Certificate(pem).fingerprint256);
      expect(fingerprints).toEqual([
        new X509Certificate(current.certPem).fingerprint256,
        new X509Certificate(next.certPem).fingerprint256,
      ]);
    }
  });

  it('is refused to a workload whose certificate does not chain to the bundle the server trusts', async () => {
    const stranger = await createCertificateAuthority({ trustDomain: TRUST_DOMAIN, commonName: 'not ours' });
    const ca = await clientAs(await identityFor(stranger, 'bff'));
    await expect(ca.getTrustBundle({})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});

describe('loading the bundle fails fast', () => {
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('refuses a missing file', () => {
    expect(() => loadTrustBundle(join(dir, 'nope.pem'))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_UNREADABLE',
        message: expect.stringContaining('ENOENT'),
      }),
    );
  });

  it('refuses a file without certificates', () => {
    for (const text of ['', 'hello\n', current.keyPem]) {
      expect(() => loadTrustBundle(write('empty.pem', text))).toThrow(
        expect.objectContaining({ code: 'ERR_TRUST_BUNDLE_EMPTY' }),
      );
    }
  });

  it('refuses a corrupt certificate and a leaf certificate', async () => {
    const corrupt = `-----BEGIN CERTIFICATE-----\nTUlJQm9n\n-----END CERTIFICATE-----\n`;
    expect(() => loadTrustBundle(write('corrupt.pem', `${current.certPem}\n${corrupt}`))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_INVALID',
        message: expect.stringContaining('certificate 2 is not valid X.509'),
      }),
    );
    const leaf = await issueSvidWithKey({ ca: current, spiffeId: spiffeIdFor('bff') });
    expect(() => loadTrustBundle(write('leaf.pem', leaf.certPem))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_INVALID',
        message: expect.stringContaining('is not a CA'),
      }),
    );
  });

  it('stops the service from starting', async () => {
    await expect(
      startCaService({
        logger,
        identity: await identityFor(current, 'ca'),
        trustDomain: TRUST_DOMAIN,
        namespace: NAMESPACE,
        grpcListen: '127.0.0.1:0',
        bundlePath: join(dir, 'absent.pem'),
      }),
    ).rejects.toMatchObject({ code: 'ERR_TRUST_BUNDLE_UNREADABLE' });
  });
});
