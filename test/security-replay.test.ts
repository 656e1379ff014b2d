import { randomBytes } from 'node:crypto';
import { EgressService } from '@zenmesh/proto';
import {
  Code,
  encodeRequest,
  INTEGRITY_METADATA,
  MESH_POLICY,
  type MessageIntegrity,
  type ProbeTarget,
  probeCall,
  RpcError,
  signatureMetadata,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanRedisPrefix,
  createPki,
  egressChannel,
  integrityFor,
  type Pki,
  randomPrefix,
  redisNonces,
  startEgress,
  TD,
} from './support/security-kit.js';

// Two instances of the same service sharing one Redis, real mutual TLS, real HMAC: a request captured
// off one is worthless against the other, and no byte of it can be changed.
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = randomPrefix('replay');
const masterKey = randomBytes(32);

let pki: Pki;
let ingester: TlsIdentity & { id: string };
let bff: TlsIdentity & { id: string };
let integrities: MessageIntegrity[] = [];
const servers: Awaited<ReturnType<typeof startEgress>>[] = [];
let a: Awaited<ReturnType<typeof startEgress>>;
let b: Awaited<ReturnType<typeof startEgress>>;

const newIntegrity = () => {
  const i = integrityFor({ masterKey, nonces: redisNonces(REDIS, prefix) });
  integrities.push(i);
  return i;
};

beforeAll(async () => {
  pki = await createPki();
  ingester = await pki.identity('ingester');
  bff = await pki.identity('bff');
  const egress = await pki.identity('egress');
  // bff is allowed too, only so that a request signed as ingester can be presented with bff's certificate.
  const policy = { ...MESH_POLICY, 'zenmesh.v1.EgressService/Dispatch': ['ingester', 'bff'] };
  a = await startEgress({ identity: egress, integrity: newIntegrity(), policy });
  b = await startEgress({ identity: egress, integrity: newIntegrity(), policy });
  servers.push(a, b);
  // A claim sent before the Redis connection is up fails closed at once (no offline queue): wait for it,
  // as the services do at start-up, so the first test does not race the connection on a busy machine.
  await Promise.all(integrities.map((i) => i.nonces.waitUntilReady(10_000)));
});

afterAll(async () => {
  for (const s of servers) await s.server.shutdown({ graceMs: 1000 });
  for (const i of integrities) await i.nonces.close();
  integrities = [];
  expect(await cleanRedisPrefix(REDIS, prefix)).toBeGreaterThan(0);
});

const target = (address: string, who: TlsIdentity = ingester): ProbeTarget => ({
  address,
  serverId: `spiffe://${TD}/ns/zenmesh/sa/egress`,
  trustBundle: pki.ca.certPem,
  client: { cert: who.cert, key: who.key },
});

/** A legitimate request exactly as a mesh client signs it: the bytes, and the metadata that goes with them. */
const capture = (eventId = `evt_${'a'.repeat(26)}`) => {
  const { path, body } = encodeRequest(EgressService, 'dispatch', { eventId });
  const sig = (integrities[0] as MessageIntegrity).signer.signRequest({
    path,
    callerId: ingester.id,
    serverId: `spiffe://${TD}/ns/zenmesh/sa/egress`,
    body,
  });
  return { path, body, metadata: signatureMetadata(sig), sig };
};

describe('replay across instances sharing Redis', () => {
  it('serves a legitimate call through the mesh channel and signs the response', async () => {
    const ch = egressChannel(a.address, ingester, newIntegrity());
    await expect(
      ch.client(EgressService).dispatch({ eventId: `evt_${'b'.repeat(26)}` }),
    ).resolves.toMatchObject({
      accepted: true,
    });
    ch.close();
  });

  it('refuses the captured request byte for byte (same nonce) on the second instance: replayed_nonce', async () => {
    const req = capture();
    const first = await probeCall(target(a.address), req.path, req.body, req.metadata);
    expect(first.code).toBe(Code.OK);
    expect(first.trailers[INTEGRITY_METADATA.responseSignature]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const handledBefore = b.handled();
    const replay = await probeCall(target(b.address), req.path, req.body, req.metadata);
    expect({ code: replay.code, details: replay.details }).toEqual({
      code: Code.UNAUTHENTICATED,
      details: 'replayed_nonce',
    });
    expect(b.handled()).toBe(handledBefore);
    expect(b.server.refusals.get('replayed_nonce')).toBe(1);
    // And on the instance that saw it first.
    const again = await probeCall(target(a.address), req.path, req.body, req.metadata);
    expect(again.details).toBe('replayed_nonce');
  });

  it('refuses every single-byte change of the body: bad_signature, and the handler never runs', async () => {
    const req = capture();
    const handled = a.handled() + b.handled();
    for (let i = 0; i < req.body.length; i++) {
      const tampered = Buffer.from(req.body);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      const r = await probeCall(target(i % 2 ? b.address : a.address), req.path, tampered, req.metadata);
      expect({ byte: i, code: r.code, details: r.details }).toEqual({
        byte: i,
        code: Code.UNAUTHENTICATED,
        details: 'bad_signature',
      });
    }
    // Appending a byte is a change too.
    const longer = await probeCall(
      target(a.address),
      req.path,
      Buffer.concat([req.body, Buffer.from([0])]),
      req.metadata,
    );
    expect(longer.details).toBe('bad_signature');
    expect(a.handled() + b.handled()).toBe(handled);
    // Refusals never consumed the nonce: the untouched request still passes, once.
    expect((await probeCall(target(a.address), req.path, req.body, req.metadata)).code).toBe(Code.OK);
  });

  it('refuses a change to any signed metadata field, each with its reason', async () => {
    const req = capture();
    const flip = (v: string, i = 0) => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
    // One entry carries the four fields (`<key id>.<timestamp>.<nonce>.<HMAC>`): change each in turn.
    const packed = (changes: Partial<typeof req.sig>) => ({
      [INTEGRITY_METADATA.signature]: signatureMetadata({ ...req.sig, ...changes })[
        INTEGRITY_METADATA.signature
      ] as string,
    });
    const cases: Array<[string, Record<string, string>, string]> = [
      ['key id', packed({ keyId: 'v2' }), 'unknown_key_id'],
      ['timestamp +1 s', packed({ timestamp: String(Number(req.sig.timestamp) + 1) }), 'bad_signature'],
      ['timestamp −1 h', packed({ timestamp: String(Number(req.sig.timestamp) - 3600) }), 'stale_timestamp'],
      ['nonce', packed({ nonce: flip(req.sig.nonce) }), 'bad_signature'],
      ['signature', packed({ signature: flip(req.sig.signature) }), 'bad_signature'],
      [
        'a field missing',
        { [INTEGRITY_METADATA.signature]: `${req.sig.keyId}.${req.sig.timestamp}.${req.sig.nonce}` },
        'bad_signature',
      ],
      ['a field emptied', packed({ nonce: '' }), 'bad_signature'],
      ['signature dropped', { [INTEGRITY_METADATA.signature]: '' }, 'missing_signature'],
    ];
    for (const [what, change, reason] of cases) {
      const metadata = Object.fromEntries(
        Object.entries({ ...req.metadata, ...change }).filter(([, v]) => v !== ''),
      );
      const r = await probeCall(target(b.address), req.path, req.body, metadata);
      expect({ what, code: r.code, details: r.details }).toEqual({
        what,
        code: Code.UNAUTHENTICATED,
        details: reason,
      });
    }
  });

  it('binds the signature to the caller: the request presented with another certificate is refused', async () => {
    const req = capture();
    const r = await probeCall(target(a.address, bff), req.path, req.body, req.metadata);
    expect({ code: r.code, details: r.details }).toEqual({
      code: Code.UNAUTHENTICATED,
      details: 'bad_signature',
    });
  });

  it('detects a tampered or unsigned response on the client, before parsing it', async () => {
    // A server whose responses are signed under another key stands in for a response altered on the way.
    const egress = await pki.identity('egress');
    const other = integrityFor({ masterKey: randomBytes(32), nonces: redisNonces(REDIS, prefix) });
    integrities.push(other);
    const liar = await startEgress({ identity: egress, integrity: { ...other, insecureSkipVerify: true } });
    const unsigned = await startEgress({ identity: egress, integrity: false });
    servers.push(liar, unsigned);
    const integrity = newIntegrity();
    for (const [s, reason] of [
      [liar, 'bad_response_signature'],
      [unsigned, 'missing_response_signature'],
    ] as const) {
      const ch = egressChannel(s.address, ingester, integrity);
      const err = await ch
        .client(EgressService)
        .dispatch({ eventId: `evt_${'c'.repeat(26)}` })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcError);
      expect({ code: (err as RpcError).code, reason: (err as RpcError).reason }).toEqual({
        code: Code.UNAUTHENTICATED,
        reason,
      });
      ch.close();
    }
  });
});
