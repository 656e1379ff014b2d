// Issue 14: fuzzing each service's gRPC door with a valid certificate (fast-check, fixed seed). The caller
// holds a genuine SVID the mesh policy admits for the method, so what is tested is what comes after the
// handshake: message integrity over the x-zm-* metadata, the size limit, and protobuf parsing in the
// handlers. Bad, missing, oversized, duplicated or binary-keyed signature entries, and signed but malformed
// or random request bytes, must each get a refusal with its status code and a reason, the server must stay
// up, and nothing may be stored for a refused request (rows counted before and after; a valid call at the end
// shows the count would have moved). Real parts: the backend on Postgres, the token service, the CA service.
import { randomBytes } from 'node:crypto';
import type { DescMessage } from '@bufbuild/protobuf';
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { createBackend } from '@zenmesh/backend';
import { type RunningCaService, startCaService } from '@zenmesh/ca';
import { createMemoryNonceStore, loadMasterKey } from '@zenmesh/crypto';
import { createDatabase } from '@zenmesh/db';
import { mintJoinToken } from '@zenmesh/identity';
import { createCsr, generateKeyPair, signRenewalProof, spiffeIdFor } from '@zenmesh/pki';
import {
  CaService,
  EventService,
  RecordEventRequestSchema,
  RenewRequestSchema,
  SourceService,
  TenantService,
  TokenService,
  VerifyApiKeyRequestSchema,
} from '@zenmesh/proto';
import {
  Code,
  createMeshServer,
  encodeRequest,
  INTEGRITY_METADATA,
  MESH_POLICY,
  type MessageIntegrity,
  signatureMetadata,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { startTokenService } from '@zenmesh/token';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFixture, type MeshFixture, TD } from './support/mesh-fixture.js';
import { integrityFor } from './support/security-kit.js';

const SEED = 0x14_f022;
const RUNS = 40;
// What a refusal may be: never OK, never INTERNAL / UNKNOWN (a crash), never a transport failure.
const REFUSALS = new Set([
  Code.INVALID_ARGUMENT,
  Code.UNAUTHENTICATED,
  Code.PERMISSION_DENIED,
  Code.NOT_FOUND,
  Code.FAILED_PRECONDITION,
  Code.RESOURCE_EXHAUSTED,
  Code.ALREADY_EXISTS,
  Code.OUT_OF_RANGE,
]);

type Entry = readonly [string, string | Buffer];
interface Answer {
  code: number;
  details: string;
}

/** A raw unary caller over one mTLS connection: exactly these bytes and metadata entries (duplicates too). */
function rawClient(address: string, client: TlsIdentity) {
  const creds = grpc.credentials.createSsl(
    Buffer.from(client.ca),
    Buffer.from(client.key),
    Buffer.from(client.cert),
    {
      checkServerIdentity: () => undefined,
    },
  );
  const c = new grpc.Client(address, creds, {
    'grpc.ssl_target_name_override': 'fuzz.invalid',
    'grpc.use_local_subchannel_pool': 1,
  });
  return {
    call(path: string, body: Uint8Array, entries: readonly Entry[]): Promise<Answer> {
      const md = new grpc.Metadata();
      for (const [k, v] of entries) md.add(k, v);
      return new Promise((resolve) => {
        const call = c.makeUnaryRequest<Buffer, Buffer>(
          path,
          (b) => b,
          (b) => b,
          Buffer.from(body),
          md,
          { deadline: Date.now() + 5000 },
          () => undefined,
        );
        call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
      });
    },
    close: () => c.close(),
  };
}

interface Door {
  name: string;
  address: string;
  client: TlsIdentity;
  callerId: string;
  serverId: string;
  path: string;
  /** A well-formed request the caller may send. */
  valid: Uint8Array;
  schema: DescMessage;
  /** Whether a genuine call stores a row (VerifyApiKey only reads). */
  stores?: false;
  /** Rows this method would create (events, API keys, issued SVIDs in the CA's audit). */
  stored(): Promise<number>;
}

let fixture: MeshFixture;
let ca: RunningCaService;
let integrity: MessageIntegrity;
const doors: Door[] = [];
const pools: pg.Pool[] = [];

const signed = (d: Door, body: Uint8Array): Entry[] =>
  Object.entries(
    signatureMetadata(
      integrity.signer.signRequest({ path: d.path, callerId: d.callerId, serverId: d.serverId, body }),
    ),
  );
const count = (pool: pg.Pool, sql: string) => async () => Number((await pool.query(sql)).rows[0]?.n ?? 0);

beforeAll(async () => {
  fixture = await createMeshFixture('grpc-edge');
  integrity = integrityFor({
    masterKey: loadMasterKey(fixture.secretsDir),
    nonces: createMemoryNonceStore(),
  });
  const logger = fixture.logger;
  const id = (s: string) => spiffeIdFor(s, TD);

  // The backend, its tenant and source made over the same door as the bff would, signed.
  const scratch = await fixture.database('zm_test_grpc_edge_backend');
  const db = await createDatabase({ url: scratch.url });
  fixture.defer(() => db.close());
  const backend = createBackend({ db, masterKey: randomBytes(32) });
  await backend.migrate();
  const server = createMeshServer({
    ...TD,
    integrity,
    service: 'backend',
    identity: await fixture.identity('backend'),
    logger,
    policy: MESH_POLICY,
  });
  backend.register(server);
  const { address: backendAddress } = await server.listen('127.0.0.1:0');
  fixture.defer(() => server.shutdown({ graceMs: 500 }));
  const bff = await fixture.identity('bff');
  const door0 = { address: backendAddress, client: bff, callerId: id('bff'), serverId: id('backend') };
  const callAs = async <T extends DescMessage>(path: string, body: Uint8Array, reply: T) => {
    let out: Buffer | undefined;
    const md = new grpc.Metadata();
    for (const [k, v] of signed({ ...door0, path } as Door, body)) md.add(k, v);
    await new Promise<void>((resolve, reject) => {
      const creds = grpc.credentials.createSsl(
        Buffer.from(bff.ca),
        Buffer.from(bff.key),
        Buffer.from(bff.cert),
        { checkServerIdentity: () => undefined },
      );
      const c = new grpc.Client(backendAddress, creds, { 'grpc.ssl_target_name_override': 'fuzz.invalid' });
      c.makeUnaryRequest<Buffer, Buffer>(
        path,
        (b) => b,
        (b) => b,
        Buffer.from(body),
        md,
        (err, v) => {
          c.close();
          if (err) reject(err);
          else {
            out = v;
            resolve();
          }
        },
      );
    });
    return fromBinary(reply, out as Buffer);
  };
  const t = encodeRequest(TenantService, 'createTenant', { name: 'fuzz' });
  const tenant = await callAs(t.path, t.body, TenantService.method.createTenant.output);
  const s = encodeRequest(SourceService, 'createSource', {
    tenant: tenant.tenant?.id ?? '',
    provider: 'generic',
    name: 'fuzz',
    secret: 'fuzz-source-secret',
  });
  const source = await callAs(s.path, s.body, SourceService.method.createSource.output);
  const backendPool = new pg.Pool({ connectionString: scratch.url, max: 1 });
  pools.push(backendPool);
  const ingester = await fixture.identity('ingester');
  const rec = encodeRequest(EventService, 'recordEvent', {
    sourceId: source.source?.id ?? '',
    type: 'fuzz.valid',
    datacontenttype: 'application/json',
    data: Buffer.from('{"fuzz":true}'),
  });
  doors.push({
    name: 'backend RecordEvent',
    address: backendAddress,
    client: ingester,
    callerId: id('ingester'),
    serverId: id('backend'),
    path: rec.path,
    valid: rec.body,
    schema: RecordEventRequestSchema,
    stored: count(backendPool, 'select count(*)::int as n from core.events'),
  });

  // The token service, on its own scratch database.
  const tokenDb = await fixture.database('zm_test_grpc_edge_token');
  const token = await startTokenService({
    ...TD,
    integrity,
    logger,
    identity: await fixture.identity('token'),
    grpcListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    databaseUrl: tokenDb.url,
    oauth: { secretsDir: fixture.secretsDir },
  });
  fixture.defer(() => token.stop());
  const tokenPool = new pg.Pool({ connectionString: tokenDb.url, max: 1 });
  pools.push(tokenPool);
  // CreateApiKey needs a forwarded user token; VerifyApiKey is the token door any bff call goes through.
  const key = encodeRequest(TokenService, 'verifyApiKey', { apiKey: 'zmk_fuzz_not_a_key' });
  doors.push({
    name: 'token VerifyApiKey',
    address: token.ready.grpc,
    client: bff,
    callerId: id('bff'),
    serverId: id('token'),
    path: key.path,
    valid: key.body,
    schema: VerifyApiKeyRequestSchema,
    stores: false,
    stored: count(tokenPool, 'select count(*)::int as n from token.api_keys'),
  });

  // The CA service: its own CA in the fixture's secrets directory; the caller renews an SVID it joined with.
  ca = await startCaService({
    integrity,
    logger,
    ...TD,
    secretsDir: fixture.secretsDir,
    grpcListen: '127.0.0.1:0',
    joinListen: '127.0.0.1:0',
    policy: MESH_POLICY,
  });
  fixture.defer(() => ca.stop());
  const keyPair = await generateKeyPair();
  const joined = await ca.core.join(
    mintJoinToken(loadMasterKey(fixture.secretsDir), { spiffeId: id('egress') }).token,
    await createCsr({ spiffeId: id('egress'), keyPair }),
  );
  const egress: TlsIdentity = {
    cert: joined.certPem,
    key: keyPair.privateKeyPem,
    ca: joined.bundlePems.join('\n'),
  };
  const next = await generateKeyPair();
  const csrPem = await createCsr({ spiffeId: id('egress'), keyPair: next });
  const renew = encodeRequest(CaService, 'renew', {
    csrPem,
    currentCertificatePem: joined.certPem,
    proof: signRenewalProof(keyPair.privateKeyPem, csrPem),
  });
  doors.push({
    name: 'ca Renew',
    address: ca.ready.grpc,
    client: egress,
    callerId: id('egress'),
    serverId: id('ca'),
    path: renew.path,
    valid: renew.body,
    schema: RenewRequestSchema,
    // Refused renewals are audited too (that is wanted); what must not move is the count of SVIDs issued.
    stored: async () =>
      ca.core.audit.entries().filter((e) => e.action === 'svid.renewed' || e.action === 'svid.issued').length,
  });
}, 120_000);

afterAll(async () => {
  for (const p of pools) await p.end();
  await fixture?.stop();
});

/**
 * One change to the signature entry of a correctly signed call (`x-zm-signature: keyid.timestamp.nonce.hmac`,
 * one entry since issue 10), to the whole entry or to one of its four parts; each must make the call refused.
 */
const FIELDS = [INTEGRITY_METADATA.signature] as const;
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 300,
});
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant('replace' as const), field: fc.constantFrom(...FIELDS), value: printable }),
  fc.record({
    kind: fc.constant('huge' as const),
    field: fc.constantFrom(...FIELDS),
    size: fc.integer({ min: 4_000, max: 40_000 }),
  }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    field: fc.constantFrom(...FIELDS),
    value: fc.option(printable, { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('binary' as const),
    field: fc.constantFrom(...FIELDS),
    value: fc.uint8Array({ maxLength: 200 }),
  }),
  // One part of the compound value (key id, timestamp, nonce, HMAC) replaced, emptied or dropped.
  fc.record({
    kind: fc.constant('part' as const),
    field: fc.constantFrom(...FIELDS),
    part: fc.integer({ min: 0, max: 3 }),
    value: fc.option(printable, { nil: undefined }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(entries: Entry[], m: Mutation): Entry[] {
  const original = entries.find(([k]) => k === m.field)?.[1] as string;
  const others = entries.filter(([k]) => k !== m.field);
  switch (m.kind) {
    case 'drop':
      return others;
    case 'replace':
      return [...others, [m.field, m.value === original ? `${m.value}x` : m.value]];
    case 'huge':
      return [...others, [m.field, 'A'.repeat(m.size)]];
    case 'duplicate':
      // The genuine value first, then a second one (the same again, or another): which one counts is ambiguous.
      return [...entries, [m.field, m.value ?? original]];
    case 'binary':
      // The field only under its binary name (grpc-js base64s `-bin` values): the text entry is missing.
      return [...others, [`${m.field}-bin`, Buffer.from(m.value)]];
    case 'part': {
      const parts = original.split('.');
      const old = parts[m.part] ?? '';
      if (m.value === undefined) parts.splice(m.part, 1);
      else parts[m.part] = m.value === old ? `${m.value}x` : m.value;
      return [...others, [m.field, parts.join('.')]];
    }
  }
}

const expectRefused = (a: Answer, what: string) => {
  expect(REFUSALS.has(a.code), `${what}: code ${a.code} ${a.details}`).toBe(true);
  expect(a.details, what).toMatch(/\S/);
};

describe('each gRPC door, with a valid certificate', () => {
  it('refuses every bad, missing, oversized, duplicated or binary signature entry, storing nothing', async () => {
    for (const d of doors) {
      const client = rawClient(d.address, d.client);
      const before = await d.stored();
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          const a = await client.call(d.path, d.valid, mutate(signed(d, d.valid), m));
          expectRefused(a, `${d.name} ${m.kind} ${m.field}`);
        }),
        { seed: SEED, numRuns: RUNS },
      );
      expect(await d.stored(), `${d.name}: stored after refusals`).toBe(before);
      // The same door still answers, and stores, a genuine call: the count above could have moved.
      const ok = await client.call(d.path, d.valid, signed(d, d.valid));
      expect(ok, `${d.name}: ${ok.details}`).toMatchObject({ code: Code.OK });
      if (d.stores !== false)
        expect(await d.stored(), `${d.name}: stored after one genuine call`).toBeGreaterThan(before);
      client.close();
    }
  }, 60_000);

  it('refuses signed random or truncated request bytes (never INTERNAL), storing nothing for a refusal', async () => {
    for (const d of doors) {
      const client = rawClient(d.address, d.client);
      const before = await d.stored();
      let accepted = 0;
      const body = fc.oneof(
        fc.uint8Array({ maxLength: 2048 }),
        fc.integer({ min: 1, max: d.valid.length - 1 }).map((n) => d.valid.slice(0, n)),
        fc
          .tuple(fc.integer({ min: 0, max: d.valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
          .map(([i, b]) => {
            const copy = Uint8Array.from(d.valid);
            copy[i] = b;
            return copy;
          }),
      );
      await fc.assert(
        fc.asyncProperty(body, async (bytes) => {
          const a = await client.call(d.path, bytes, signed(d, bytes));
          if (a.code === Code.OK) {
            // Only bytes that are a well-formed request may succeed (a byte flip inside a string, say).
            expect(() => fromBinary(d.schema, bytes)).not.toThrow();
            accepted += 1;
            return;
          }
          expectRefused(a, `${d.name} ${bytes.length} bytes`);
        }),
        { seed: SEED, numRuns: RUNS },
      );
      expect(await d.stored(), `${d.name}: one row per accepted call, none per refusal`).toBe(
        before + (d.stores === false ? 0 : accepted),
      );
      client.close();
    }
  }, 60_000);

  it('refuses a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    for (const d of doors) {
      const client = rawClient(d.address, d.client);
      const before = await d.stored();
      const big = randomBytes(5 * 1024 * 1024);
      const a = await client.call(d.path, big, signed(d, big));
      expect(a.code, d.name).toBe(Code.RESOURCE_EXHAUSTED);
      expect(a.details).toMatch(/\S/);
      expect(await d.stored()).toBe(before);
      client.close();
    }
  }, 30_000);
});
