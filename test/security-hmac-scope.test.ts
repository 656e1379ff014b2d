// Issue 12 defects 9 and 10 on the wire: real mutual TLS, real HMAC, nonces in the shared Redis.
// Defect 9: the signature covers the metadata a handler acts on (the forwarded `authorization`), and error
// statuses are signed by the server and checked by the client. Defect 10: per-pair keys, so a message signed
// with another service's key is refused whatever certificate presents it. The in-flight attacker is a real
// TLS-terminating proxy between a mesh channel and the egress server that rewrites what passes through.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { EgressService } from '@zenmesh/proto';
import {
  Code,
  encodeRequest,
  INTEGRITY_METADATA,
  MESH_POLICY,
  type MessageIntegrity,
  type ProbeResult,
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

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = randomPrefix('hmac-scope');
const masterKey = randomBytes(32);
const EGRESS_ID = `spiffe://${TD}/ns/zenmesh/sa/egress`;
const idOf = (service: string) => `spiffe://${TD}/ns/zenmesh/sa/${service}`;

let pki: Pki;
type Identity = TlsIdentity & { id: string };
let ingester: Identity;
let backend: Identity;
let egress: Identity;
const integrities: MessageIntegrity[] = [];
const closers: Array<() => Promise<void> | void> = [];
let server: Awaited<ReturnType<typeof startEgress>>;

const newIntegrity = (key = masterKey) => {
  const i = integrityFor({ masterKey: key, nonces: redisNonces(REDIS, prefix) });
  integrities.push(i);
  return i;
};

beforeAll(async () => {
  pki = await createPki();
  ingester = await pki.identity('ingester');
  backend = await pki.identity('backend');
  egress = await pki.identity('egress');
  // backend may call Dispatch here too, so that the key, not the policy, is what refuses a borrowed signature.
  const policy = { ...MESH_POLICY, 'zenmesh.v1.EgressService/Dispatch': ['ingester', 'backend'] };
  server = await startEgress({ identity: egress, integrity: newIntegrity(), policy });
  closers.push(() => server.server.shutdown({ graceMs: 1000 }));
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const i of integrities) await i.nonces.close();
  await cleanRedisPrefix(REDIS, prefix);
});

const target = (address: string, who: Identity): ProbeTarget => ({
  address,
  serverId: EGRESS_ID,
  trustBundle: pki.ca.certPem,
  client: { cert: who.cert, key: who.key },
});

/** A request signed like a mesh client signs it: `callerId`'s pair key towards egress, `headers` covered. */
const signed = (eventId: string, callerId: string, headers: Record<string, string> = {}) => {
  const { path, body } = encodeRequest(EgressService, 'dispatch', { eventId });
  const sig = (integrities[0] as MessageIntegrity).signer.signRequest({
    path,
    callerId,
    serverId: EGRESS_ID,
    body,
    headers,
  });
  return { path, body, sig, metadata: { ...signatureMetadata(sig), ...headers } };
};

const outcomeOf = (r: ProbeResult) => ({ code: r.code, details: r.details });
const evt = (c: string) => `evt_${c.repeat(26)}`;

describe('defect 9: the signature covers authority-bearing metadata', () => {
  it('a covered authorization reaches the handler; the signed list names it', async () => {
    const req = signed(evt('a'), ingester.id, { authorization: 'Bearer alice', 'x-probe': 'p1' });
    expect(req.metadata[INTEGRITY_METADATA.headers]).toBe('authorization,x-probe');
    const r = await probeCall(target(server.address, ingester), req.path, req.body, req.metadata);
    expect(r.code).toBe(Code.OK);
    expect(server.lastHeaders()).toEqual({ authorization: 'Bearer alice', 'x-probe': 'p1' });
  });

  it('refuses a covered value changed in flight, a covered key dropped, and the list stripped: bad_signature', async () => {
    const before = server.handled();
    const cases: Array<[string, (m: Record<string, string>) => Record<string, string>]> = [
      ['authorization changed', (m) => ({ ...m, authorization: 'Bearer mallory' })],
      ['authorization dropped', ({ authorization: _, ...m }) => m],
      ['covered list stripped', ({ [INTEGRITY_METADATA.headers]: _, ...m }) => m],
      ['covered list shortened', (m) => ({ ...m, [INTEGRITY_METADATA.headers]: 'x-probe' })],
    ];
    for (const [what, change] of cases) {
      const req = signed(evt('b'), ingester.id, { authorization: 'Bearer alice', 'x-probe': 'p2' });
      const r = await probeCall(target(server.address, ingester), req.path, req.body, change(req.metadata));
      expect({ what, ...outcomeOf(r) }).toEqual({
        what,
        code: Code.UNAUTHENTICATED,
        details: 'bad_signature',
      });
    }
    expect(server.handled()).toBe(before);
  });

  it('metadata added on the way to a signed request is invisible to the handler', async () => {
    const req = signed(evt('c'), ingester.id);
    const r = await probeCall(target(server.address, ingester), req.path, req.body, {
      ...req.metadata,
      authorization: 'Bearer injected',
    });
    expect(r.code).toBe(Code.OK);
    expect(server.lastHeaders()).toEqual({ authorization: undefined, 'x-probe': undefined });
  });

  it('signs its refusals: the status verifies under the server→caller key, bound to our nonce', async () => {
    const req = signed(evt('d'), ingester.id, { authorization: 'Bearer alice' });
    const r = await probeCall(target(server.address, ingester), req.path, req.body, {
      ...req.metadata,
      authorization: 'Bearer mallory',
    });
    expect(outcomeOf(r)).toEqual({ code: Code.UNAUTHENTICATED, details: 'bad_signature' });
    const given = r.trailers[INTEGRITY_METADATA.responseSignature] ?? '';
    const check = (outcome: { code: number; reason: string }, nonce = req.sig.nonce) =>
      (integrities[0] as MessageIntegrity).signer.verifyResponse({
        path: req.path,
        keyId: req.sig.keyId,
        nonce,
        callerId: ingester.id,
        serverId: EGRESS_ID,
        outcome,
        signature: given,
      });
    expect(check({ code: Code.UNAUTHENTICATED, reason: 'bad_signature' })).toBe(true);
    // The same signature says nothing about another status, reason or call.
    expect(check({ code: Code.PERMISSION_DENIED, reason: 'bad_signature' })).toBe(false);
    expect(check({ code: Code.UNAUTHENTICATED, reason: 'replayed_nonce' })).toBe(false);
    expect(
      check({ code: Code.UNAUTHENTICATED, reason: 'bad_signature' }, signed(evt('e'), ingester.id).sig.nonce),
    ).toBe(false);
  });
});

/**
 * A TLS-terminating proxy holding egress's certificate towards the client and ingester's towards the server
 * (a compromised middlebox): it forwards each call, letting `rewrite` change the request metadata on the way
 * in and the outcome on the way out.
 */
async function startProxy(rewrite: {
  request?: (m: Record<string, string>) => Record<string, string>;
  reply?: (r: ProbeResult) => ProbeResult;
}): Promise<string> {
  const proxy = new grpc.Server();
  const pass = (b: Buffer) => b;
  proxy.addService(
    {
      dispatch: {
        path: '/zenmesh.v1.EgressService/Dispatch',
        requestStream: false,
        responseStream: false,
        requestSerialize: pass,
        requestDeserialize: pass,
        responseSerialize: pass,
        responseDeserialize: pass,
      },
    },
    {
      dispatch: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const incoming: Record<string, string> = {};
        for (const [k, v] of Object.entries(call.metadata.getMap())) {
          if (k !== 'user-agent' && !k.startsWith('grpc-')) incoming[k] = String(v);
        }
        const metadata = rewrite.request ? rewrite.request(incoming) : incoming;
        void probeCall(target(server.address, ingester), call.getPath(), call.request, metadata).then(
          (got) => {
            const r = rewrite.reply ? rewrite.reply(got) : got;
            const trailers = new grpc.Metadata();
            for (const [k, v] of Object.entries(r.trailers)) if (k.startsWith('x-zm-')) trailers.set(k, v);
            if (r.code === Code.OK) callback(null, r.reply ?? Buffer.alloc(0), trailers);
            else callback({ code: r.code, details: r.details, metadata: trailers });
          },
        );
      },
    },
  );
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(pki.ca.certPem),
    [{ cert_chain: Buffer.from(egress.cert), private_key: Buffer.from(egress.key) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    proxy.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  closers.push(() => proxy.forceShutdown());
  return `127.0.0.1:${port}`;
}

/** One call through a mesh channel (as ingester) to `address`; the RpcError it ends with, or 'ok'. */
async function callThrough(address: string, eventId: string, metadata?: Record<string, string>) {
  const ch = egressChannel(address, ingester, newIntegrity());
  try {
    await ch.client(EgressService).dispatch({ eventId }, metadata ? { metadata } : {});
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(RpcError);
    return { code: (err as RpcError).code, reason: (err as RpcError).reason };
  } finally {
    ch.close();
  }
}

describe('defect 9 in flight: a proxy rewriting what passes through', () => {
  it('an honest proxy changes nothing: answers and signed errors pass as they are', async () => {
    const honest = await startProxy({});
    expect(await callThrough(honest, evt('f'))).toBe('ok');
    expect(await callThrough(honest, `evt_dup${'f'.repeat(22)}`)).toEqual({
      code: Code.ALREADY_EXISTS,
      reason: 'duplicate_event',
    });
  });

  it('tampering with the forwarded authorization on the way in: the server refuses, the client sees it signed', async () => {
    const proxy = await startProxy({ request: (m) => ({ ...m, authorization: 'Bearer mallory' }) });
    expect(await callThrough(proxy, evt('g'), { authorization: 'Bearer alice' })).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'bad_signature',
    });
  });

  it('an error reply with its signature stripped: unsigned_error_reply', async () => {
    const strip = await startProxy({ reply: (r) => ({ ...r, trailers: {} }) });
    expect(await callThrough(strip, `evt_dup${'h'.repeat(22)}`)).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'unsigned_error_reply',
    });
  });

  it('an error reply with its reason or code rewritten: bad_error_signature', async () => {
    const reason = await startProxy({ reply: (r) => ({ ...r, details: 'quota_exceeded' }) });
    expect(await callThrough(reason, `evt_dup${'i'.repeat(22)}`)).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'bad_error_signature',
    });
    const code = await startProxy({ reply: (r) => ({ ...r, code: Code.NOT_FOUND }) });
    expect(await callThrough(code, `evt_dup${'j'.repeat(22)}`)).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'bad_error_signature',
    });
  });

  it('a success turned into a forged error: unsigned_error_reply; into a transport failure: passes as one', async () => {
    const forged = await startProxy({
      reply: () => ({
        code: Code.ALREADY_EXISTS,
        details: 'duplicate_event',
        reply: undefined,
        trailers: {},
      }),
    });
    expect(await callThrough(forged, evt('k'))).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'unsigned_error_reply',
    });
    // UNAVAILABLE only ever means "not done", which dropping the connection achieves as well.
    const dropped = await startProxy({
      reply: () => ({ code: Code.UNAVAILABLE, details: 'gone', reply: undefined, trailers: {} }),
    });
    expect(await callThrough(dropped, evt('l'))).toEqual({ code: Code.UNAVAILABLE, reason: 'gone' });
  });

  it('an error signed under another master key: bad_error_signature', async () => {
    const other = newIntegrity(randomBytes(32));
    const liar = await startEgress({ identity: egress, integrity: { ...other, insecureSkipVerify: true } });
    closers.push(() => liar.server.shutdown({ graceMs: 1000 }));
    expect(await callThrough(liar.address, `evt_dup${'m'.repeat(22)}`)).toEqual({
      code: Code.UNAUTHENTICATED,
      reason: 'bad_error_signature',
    });
  });
});

describe('defect 10: per-pair keys prove who signed', () => {
  it('a message signed with backend’s key, presented with ingester’s certificate: bad_signature', async () => {
    const req = signed(evt('n'), idOf('backend'));
    const r = await probeCall(target(server.address, ingester), req.path, req.body, req.metadata);
    expect(outcomeOf(r)).toEqual({ code: Code.UNAUTHENTICATED, details: 'bad_signature' });
  });

  it('a message signed with ingester’s key, presented with backend’s certificate: bad_signature', async () => {
    const req = signed(evt('o'), ingester.id);
    const r = await probeCall(target(server.address, backend), req.path, req.body, req.metadata);
    expect(outcomeOf(r)).toEqual({ code: Code.UNAUTHENTICATED, details: 'bad_signature' });
  });

  it('the same message with the matching pair of key and certificate is served (the control)', async () => {
    for (const who of [ingester, backend]) {
      const req = signed(`evt_${who === ingester ? 'p' : 'q'}${'x'.repeat(25)}`, who.id);
      const r = await probeCall(target(server.address, who), req.path, req.body, req.metadata);
      expect(r.code).toBe(Code.OK);
    }
  });
});
