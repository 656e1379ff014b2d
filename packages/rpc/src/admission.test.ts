// The security matrix (DESIGN.md "Flows and the security matrix"), cell by cell, over the pure admission core:
// every internal flow × every attack `zenmesh verify` makes live, plus the legitimate call. No sockets: real
// SVIDs from a real CA, a real HMAC signer and nonce store, and the exact refusal (status + reason) per cell.
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import {
  buildWorkloadKeys,
  createMemoryNonceStore,
  createMessageKeyring,
  createMessageSigner,
  createRedisNonceStore,
  createWorkloadKeyring,
  INITIAL_KEYRING,
  type MessageSigner,
  writeWorkloadKeysFile,
} from '@zenmesh/crypto';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdmissionVerdict, createAdmission, type MetadataReader } from './admission.js';
import { INTEGRITY_METADATA, type MessageIntegrity, signatureMetadata } from './message-integrity.js';
import { MESH_POLICY } from './policy.js';

const TD = 'zenmesh.local';
const NS = 'zenmesh';

/** Every internal flow of the matrix: who calls, whom, which RPC, and an identity the policy refuses there. */
const FLOWS = [
  { client: 'bff', server: 'backend', method: '/zenmesh.v1.TenantService/ListTenants', wrong: 'ingester' },
  { client: 'bff', server: 'token', method: '/zenmesh.v1.TokenService/VerifyApiKey', wrong: 'ingester' },
  // Any mesh workload may read the bundle: the wrong identity is one of another namespace.
  { client: 'bff', server: 'ca', method: '/zenmesh.v1.CaService/GetTrustBundle', wrong: 'intruder/bff' },
  { client: 'ingester', server: 'backend', method: '/zenmesh.v1.SourceService/ResolveSource', wrong: 'bff' },
  { client: 'ingester', server: 'egress', method: '/zenmesh.v1.EgressService/Dispatch', wrong: 'bff' },
  {
    client: 'egress',
    server: 'backend',
    method: '/zenmesh.v1.DeliveryService/LeaseDeliveries',
    wrong: 'ingester',
  },
] as const;

type Flow = (typeof FLOWS)[number];

interface Cell {
  probe: string;
  /** The request the attacker (or the legitimate client) sends to `flow`. */
  request(flow: Flow): Promise<Probe>;
  expected: { status: string; reason: string } | 'admitted';
}

interface Probe {
  cert: PeerCertificate | undefined;
  metadata: Record<string, string>;
  body: Uint8Array;
  /** Admit it this many times (the replay cell sends the same bytes twice); the last verdict counts. */
  times?: number;
}

const masterKey = randomBytes(32);
const signerWith = (key: Buffer, clock?: () => number): MessageSigner =>
  createMessageSigner({
    keyring: createMessageKeyring({ masterKey: key, cluster: TD }),
    ...(clock ? { clock } : {}),
  });
const signer = signerWith(masterKey);
const body = new Uint8Array(randomBytes(64));

let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
let foreignCa: Awaited<ReturnType<typeof createCertificateAuthority>>;
const certs = new Map<string, PeerCertificate>();

/** What a TLS session hands the server: the DER and its fingerprint (Node's `getPeerCertificate()` fields). */
const asPeerCertificate = (pem: string) => {
  const x = new X509Certificate(pem);
  return { raw: x.raw, fingerprint256: x.fingerprint256 } as PeerCertificate;
};

/** `service` or `namespace/service`, from our CA unless `foreign`. */
async function certFor(name: string, foreign = false): Promise<PeerCertificate> {
  const key = `${foreign ? 'foreign:' : ''}${name}`;
  const known = certs.get(key);
  if (known) return known;
  const [namespace, service] = name.includes('/') ? (name.split('/') as [string, string]) : [NS, name];
  const issuer = foreign ? foreignCa : ca;
  const svid = await issueSvidWithKey({
    ca: issuer,
    spiffeId: spiffeIdFor(service, { trustDomain: issuer.trustDomain, namespace }),
  });
  const cert = asPeerCertificate(svid.certPem);
  certs.set(key, cert);
  return cert;
}

const idOf = (service: string) => spiffeIdFor(service, { trustDomain: TD, namespace: NS });
const signed = (
  s: MessageSigner,
  flow: Flow,
  callerId = idOf(flow.client),
  headers: Record<string, string> = {},
) => ({
  ...signatureMetadata(
    s.signRequest({ path: flow.method, callerId, serverId: idOf(flow.server), body, headers }),
  ),
  ...headers,
});

const CELLS: Cell[] = [
  {
    probe: 'no_client_cert',
    request: async (f) => ({ cert: undefined, metadata: signed(signer, f), body }),
    expected: { status: 'UNAUTHENTICATED', reason: 'no_peer_identity' },
  },
  {
    probe: 'foreign_trust_domain',
    request: async (f) => ({ cert: await certFor(f.client, true), metadata: signed(signer, f), body }),
    expected: { status: 'PERMISSION_DENIED', reason: 'foreign_trust_domain' },
  },
  {
    probe: 'wrong_spiffe_id',
    request: async (f) => ({ cert: await certFor(f.wrong), metadata: signed(signer, f), body }),
    expected: { status: 'PERMISSION_DENIED', reason: 'spiffe_id_not_allowed' },
  },
  {
    probe: 'no_hmac',
    request: async (f) => ({ cert: await certFor(f.client), metadata: {}, body }),
    expected: { status: 'UNAUTHENTICATED', reason: 'missing_signature' },
  },
  {
    // Right fields, right key id, a key derived from another master key.
    probe: 'bad_hmac',
    request: async (f) => ({
      cert: await certFor(f.client),
      metadata: signed(signerWith(randomBytes(32)), f),
      body,
    }),
    expected: { status: 'UNAUTHENTICATED', reason: 'bad_signature' },
  },
  {
    probe: 'stale_timestamp',
    request: async (f) => ({
      cert: await certFor(f.client),
      metadata: signed(
        signerWith(masterKey, () => Date.now() - 2 * signer.windowSeconds * 1000),
        f,
      ),
      body,
    }),
    expected: { status: 'UNAUTHENTICATED', reason: 'stale_timestamp' },
  },
  {
    probe: 'replayed_nonce',
    request: async (f) => ({ cert: await certFor(f.client), metadata: signed(signer, f), body, times: 2 }),
    expected: { status: 'UNAUTHENTICATED', reason: 'replayed_nonce' },
  },
  {
    // The signature covers the exact bytes: one flipped byte is a forgery.
    probe: 'tampered_body',
    request: async (f) => {
      const tampered = Uint8Array.from(body);
      tampered[0] = (tampered[0] ?? 0) ^ 1;
      return { cert: await certFor(f.client), metadata: signed(signer, f), body: tampered };
    },
    expected: { status: 'UNAUTHENTICATED', reason: 'bad_signature' },
  },
  {
    // Issue 12 defect 9: the forwarded user token is covered; a value changed on the way is a forgery.
    probe: 'tampered_metadata',
    request: async (f) => ({
      cert: await certFor(f.client),
      metadata: {
        ...signed(signer, f, idOf(f.client), { authorization: 'Bearer alice' }),
        authorization: 'Bearer mallory',
      },
      body,
    }),
    expected: { status: 'UNAUTHENTICATED', reason: 'bad_signature' },
  },
  {
    // Issue 12 defect 10: signed with another service's pair key (backend → server), presented with the
    // client's certificate: the server derives the key of the pair the handshake proved, which differs.
    probe: 'other_service_key',
    request: async (f) => ({
      cert: await certFor(f.client),
      metadata: signed(signer, f, idOf('backend')),
      body,
    }),
    expected: { status: 'UNAUTHENTICATED', reason: 'bad_signature' },
  },
  {
    probe: 'unknown_key_id',
    request: async (f) => ({
      cert: await certFor(f.client),
      metadata: {
        [INTEGRITY_METADATA.signature]: (signed(signer, f)[INTEGRITY_METADATA.signature] as string).replace(
          /^v1\./,
          'v99.',
        ),
      },
      body,
    }),
    expected: { status: 'UNAUTHENTICATED', reason: 'unknown_key_id' },
  },
  {
    probe: 'legitimate',
    request: async (f) => ({ cert: await certFor(f.client), metadata: signed(signer, f), body }),
    expected: 'admitted',
  },
];

const reader =
  (metadata: Record<string, string>): MetadataReader =>
  (name) =>
    metadata[name];

const integrity: MessageIntegrity = { signer, nonces: createMemoryNonceStore() };
const admissionFor = (options: Partial<Parameters<typeof createAdmission>[0]> = {}) =>
  createAdmission({
    trustDomain: TD,
    namespace: NS,
    policy: MESH_POLICY,
    integrity,
    selfId: () => idOf('egress'),
    ...options,
  });

async function run(
  flow: Flow,
  probe: Probe,
  admission = admissionFor({ selfId: () => idOf(flow.server) }),
): Promise<AdmissionVerdict> {
  let verdict: AdmissionVerdict | undefined;
  for (let i = 0; i < (probe.times ?? 1); i++) {
    verdict = await admission.admit({
      method: flow.method,
      peer: probe.cert,
      metadata: reader(probe.metadata),
      body: probe.body,
    });
  }
  return verdict as AdmissionVerdict;
}

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD });
  foreignCa = await createCertificateAuthority({ trustDomain: 'attacker.example' });
});

describe('the security matrix over admit(), every cell', () => {
  for (const flow of FLOWS) {
    describe(`${flow.client} → ${flow.server} (${flow.method.slice(1)})`, () => {
      for (const cell of CELLS) {
        const expected = cell.expected;
        it(`${cell.probe}: ${expected === 'admitted' ? 'admitted' : `${expected.status} ${expected.reason}`}`, async () => {
          const verdict = await run(flow, await cell.request(flow));
          if (expected === 'admitted') {
            expect(verdict).toMatchObject({
              ok: true,
              caller: { spiffeId: idOf(flow.client), service: flow.client, trustDomain: TD, namespace: NS },
              signed: { keyId: 'v1' },
            });
          } else {
            expect(verdict).toMatchObject({ ok: false, ...expected });
          }
        });
      }
    });
  }
});

describe('admit() beyond the matrix', () => {
  const flow = FLOWS[4]; // ingester → egress

  it('runs the per-call peer check first: its refusal is UNAUTHENTICATED with its reason and detail', async () => {
    const revoked = await certFor(flow.client);
    const admission = admissionFor({
      verifyPeer: (cert) =>
        cert?.fingerprint256 === revoked.fingerprint256
          ? { ok: false, reason: 'svid_revoked', detail: 'serial 01 is revoked' }
          : { ok: true },
    });
    const verdict = await run(flow, { cert: revoked, metadata: signed(signer, flow), body }, admission);
    expect(verdict).toMatchObject({
      ok: false,
      status: 'UNAUTHENTICATED',
      reason: 'svid_revoked',
      detail: 'serial 01 is revoked',
      caller: { service: 'ingester' },
    });
  });

  it('fails closed when the nonce store cannot answer: UNAVAILABLE replay_store_unavailable', async () => {
    // A real Redis store pointed at a port nothing listens on: every claim rejects at once.
    const nonces = createRedisNonceStore({ url: 'redis://127.0.0.1:1', prefix: 'zm:test:admission:' });
    try {
      const admission = admissionFor({ integrity: { signer, nonces } });
      const verdict = await run(
        flow,
        { cert: await certFor(flow.client), metadata: signed(signer, flow), body },
        admission,
      );
      expect(verdict).toMatchObject({ ok: false, status: 'UNAVAILABLE', reason: 'replay_store_unavailable' });
      expect((verdict as { cause?: unknown }).cause).toBeDefined();
    } finally {
      await nonces.close();
    }
  });

  it('denies a method the policy table does not list, whoever calls', async () => {
    const verdict = await run({ ...flow, method: '/zenmesh.v1.EgressService/Unlisted' } as unknown as Flow, {
      cert: await certFor('ingester'),
      metadata: {},
      body,
    });
    expect(verdict).toMatchObject({
      ok: false,
      status: 'PERMISSION_DENIED',
      reason: 'spiffe_id_not_allowed',
    });
  });

  it('admits health checks on mutual TLS and the policy alone (exempt from signatures)', async () => {
    const health = { ...flow, method: '/grpc.health.v1.Health/Check' } as unknown as Flow;
    const verdict = await run(health, { cert: await certFor('bff'), metadata: {}, body });
    expect(verdict).toMatchObject({ ok: true, caller: { service: 'bff' }, signed: undefined });
  });

  it('with integrity off (mTLS-only servers) admits on the policy alone, unsigned', async () => {
    const verdict = await run(
      flow,
      { cert: await certFor(flow.client), metadata: {}, body },
      admissionFor({ integrity: false }),
    );
    expect(verdict).toMatchObject({ ok: true, signed: undefined });
  });

  it('a weakened server (insecureSkipVerify) admits an unsigned request: what `zenmesh verify` must catch', async () => {
    const weakened = admissionFor({ integrity: { ...integrity, insecureSkipVerify: true } });
    const verdict = await run(flow, { cert: await certFor(flow.client), metadata: {}, body }, weakened);
    expect(verdict).toMatchObject({ ok: true, signed: undefined });
  });

  it('refuses a certificate naming no workload (the bare trust domain, as the CA has) as spiffe_id_not_allowed', async () => {
    const verdict = await run(flow, { cert: asPeerCertificate(ca.certPem), metadata: {}, body });
    expect(verdict).toMatchObject({
      ok: false,
      status: 'PERMISSION_DENIED',
      reason: 'spiffe_id_not_allowed',
      caller: { spiffeId: `spiffe://${TD}`, service: undefined },
    });
  });

  it('admits covered metadata and names it: a handler reads those keys and no others', async () => {
    const verdict = await run(flow, {
      cert: await certFor(flow.client),
      metadata: signed(signer, flow, idOf(flow.client), {
        authorization: 'Bearer alice',
        'x-actor': 'usr_1',
      }),
      body,
    });
    expect(verdict).toMatchObject({ ok: true, headers: ['authorization', 'x-actor'] });
  });

  it('hands a refusal what it needs to be signed for the caller: key id, nonce and both SPIFFE IDs', async () => {
    const metadata = signed(signer, flow, idOf(flow.client), { authorization: 'Bearer alice' });
    const verdict = await run(flow, {
      cert: await certFor(flow.client),
      metadata: { ...metadata, authorization: 'Bearer mallory' },
      body,
    });
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'bad_signature',
      replyTo: {
        keyId: 'v1',
        nonce: (metadata[INTEGRITY_METADATA.signature] as string).split('.')[2],
        callerId: idOf(flow.client),
        serverId: idOf('egress'),
      },
    });
    // No caller identity: nothing to bind a signature to.
    const anonymous = await run(flow, { cert: undefined, metadata, body });
    expect(anonymous).toMatchObject({ ok: false, reason: 'no_peer_identity' });
    expect((anonymous as { replyTo?: unknown }).replyTo).toBeUndefined();
  });

  it('refuses a signature entry that is not four fields, or sent twice, as bad_signature', async () => {
    const good = signed(signer, flow)[INTEGRITY_METADATA.signature] as string;
    const [keyId, timestamp, nonce, mac] = good.split('.');
    const cert = await certFor(flow.client);
    for (const value of [
      `${keyId}.${timestamp}.${nonce}`,
      `${keyId}.${timestamp}.${nonce}.${mac}.extra`,
      `${keyId}..${nonce}.${mac}`,
    ]) {
      const verdict = await run(flow, { cert, metadata: { [INTEGRITY_METADATA.signature]: value }, body });
      expect({ value, verdict }).toMatchObject({ value, verdict: { ok: false, reason: 'bad_signature' } });
    }
    const twice = await admissionFor({ selfId: () => idOf(flow.server) }).admit({
      method: flow.method,
      peer: cert,
      metadata: (name) => (name === INTEGRITY_METADATA.signature ? good : undefined),
      metadataValues: (name) => (name === INTEGRITY_METADATA.signature ? [good, good] : []),
      body,
    });
    expect(twice).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('a server with only its own pair keys refuses a policy-admitted caller it has no key for: no_pair_key', async () => {
    // The CA's keyring as the launcher writes it: its pairs with the mesh's workloads, not with `sa/stranger`.
    const dir = mkdtempSync(join(tmpdir(), 'zm-admission-'));
    try {
      const peers = ['bff', 'egress'].map(idOf);
      writeWorkloadKeysFile(
        dir,
        buildWorkloadKeys({ masterKey, cluster: TD, workload: idOf('ca'), peers, state: INITIAL_KEYRING }),
      );
      const own = createMessageSigner({ keyring: createWorkloadKeyring({ secretsDir: dir, cluster: TD }) });
      const admission = admissionFor({
        integrity: { signer: own, nonces: createMemoryNonceStore() },
        selfId: () => idOf('ca'),
      });
      const bundle = FLOWS[2]; // bff → ca, allowed for any workload of the namespace ('*')
      // `sa/stranger` holds a valid SVID and a signature under the master key, yet the CA was given no key.
      const stranger = await run(
        bundle,
        { cert: await certFor('stranger'), metadata: signed(signer, bundle, idOf('stranger')), body },
        admission,
      );
      expect(stranger).toMatchObject({ ok: false, status: 'UNAUTHENTICATED', reason: 'no_pair_key' });
      const bff = await run(
        bundle,
        { cert: await certFor('bff'), metadata: signed(signer, bundle), body },
        admission,
      );
      expect(bff).toMatchObject({ ok: true, caller: { service: 'bff' }, signed: { keyId: 'v1' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a certificate that does not decode as no_peer_identity', async () => {
    const garbage = { raw: randomBytes(300), fingerprint256: 'AA:BB' } as PeerCertificate;
    const verdict = await run(flow, { cert: garbage, metadata: signed(signer, flow), body });
    expect(verdict).toMatchObject({ ok: false, status: 'UNAUTHENTICATED', reason: 'no_peer_identity' });
  });
});

afterAll(async () => {
  await integrity.nonces.close();
});
