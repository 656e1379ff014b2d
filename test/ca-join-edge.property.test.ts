// Property tests (fast-check, fixed seeds) for the CA's only door without a client certificate: the join
// listener (HTTPS, CaJoinService/Join as a Connect unary call) and the join token and CSR it carries. Whatever a
// stranger sends, the answer is one of the documented refusals — never a 500 — no token is spent by a refused
// request, and only a genuine token with a CSR for its own SPIFFE ID gets an SVID.
import { execFileSync } from 'node:child_process';
import { createHmac, hkdfSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type RunningCaService, startCaService } from '@zenmesh/ca';
import { loadMasterKey } from '@zenmesh/crypto';
import { mintJoinToken, verifyJoinToken } from '@zenmesh/identity';
import { createCsr, generateKeyPair, spiffeIdFor } from '@zenmesh/pki';
import { JoinRequestSchema, JoinResponseSchema } from '@zenmesh/proto';
import { MESH_POLICY } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The join listener's one route (a Connect unary call), as a stranger addresses it.
const JOIN_PATH = '/zenmesh.v1.CaJoinService/Join';
const SEED = 0x5eed_ca12;
const TD = 'zenmesh.local';
const root = mkdtempSync(join(tmpdir(), 'zm-ca-join-edge-'));
const secrets = join(root, 'secrets');
mkdirSync(secrets, { mode: 0o700 });
writeFileSync(join(secrets, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
const backend = spiffeIdFor('backend');
const NOW = new Date('2026-06-01T12:00:00Z');

let ca: RunningCaService;
let masterKey: Buffer;

beforeAll(async () => {
  ca = await startCaService({
    integrity: false,
    logger: createLogger('ca-join-edge', { level: 'silent' }),
    trustDomain: TD,
    namespace: 'zenmesh',
    secretsDir: secrets,
    grpcListen: '127.0.0.1:0',
    joinListen: '127.0.0.1:0',
    policy: MESH_POLICY,
  });
  masterKey = loadMasterKey(secrets);
});
afterAll(async () => {
  await ca?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The token's claims as verifyJoinToken reads them, or its refusal code; any other exception fails. */
function verdict(token: string, now = NOW): string {
  try {
    verifyJoinToken(masterKey, token, now);
    return 'accepted';
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JOIN_TOKEN_INVALID' || code === 'ERR_JOIN_TOKEN_EXPIRED') return code;
    throw new Error(`unexpected ${String(err)}`);
  }
}

/**
 * A token over any claims, MAC'd the documented way (HKDF-SHA256 of the master key, info
 * `zenmesh/ca/join-token/v1`, over `zmjt1.<claims>`); the first property checks it agrees with mintJoinToken.
 */
function signClaims(claims: unknown): string {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'zenmesh/ca/join-token/v1', 32));
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `zmjt1.${body}.${createHmac('sha256', key).update(`zmjt1.${body}`).digest('base64url')}`;
}

describe('join token parsing', () => {
  it('genuine tokens verify to exactly the claims they were minted with', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 * 3600 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
        (ttlSeconds, probe, svidTtl) => {
          const svidTtlSeconds = probe ? svidTtl : undefined;
          const { token, claims } = mintJoinToken(masterKey, {
            spiffeId: backend,
            ttlSeconds,
            now: NOW,
            probe,
            ...(svidTtlSeconds === undefined ? {} : { svidTtlSeconds }),
          });
          expect(verifyJoinToken(masterKey, token, NOW)).toEqual(claims);
          const [, body] = token.split('.') as [string, string];
          expect(signClaims(JSON.parse(Buffer.from(body, 'base64url').toString()))).toBe(token);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('refuses arbitrary strings as ERR_JOIN_TOKEN_INVALID', () => {
    const tokenish = fc
      .tuple(fc.string(), fc.string(), fc.string())
      .map(([a, b, c]) => `zmjt1.${Buffer.from(a).toString('base64url')}${b}.${c}`);
    fc.assert(
      fc.property(fc.oneof(fc.string(), tokenish), (s) => {
        expect(verdict(s)).toBe('ERR_JOIN_TOKEN_INVALID');
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('refuses every other spelling of a genuine token: one character changed, added or dropped', () => {
    const { token } = mintJoinToken(masterKey, { spiffeId: backend, now: NOW });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.!';
    fc.assert(
      fc.property(
        // Half the edits land on the MAC's last characters, where lenient base64 decoding hides changes.
        fc.oneof(fc.nat({ max: token.length }), fc.integer({ min: token.length - 2, max: token.length })),
        fc.constantFrom(...alphabet.split('')),
        fc.constantFrom('replace', 'insert', 'delete'),
        (at, ch, op) => {
          const spelled =
            op === 'replace'
              ? token.slice(0, at) + ch + token.slice(at + 1)
              : op === 'insert'
                ? token.slice(0, at) + ch + token.slice(at)
                : token.slice(0, at) + token.slice(at + 1);
          expect(verdict(spelled)).toBe(spelled === token ? 'accepted' : 'ERR_JOIN_TOKEN_INVALID');
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('a correctly MACed token is accepted exactly when its claims are well-typed', () => {
    const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const claims = fc.record(
      {
        sub: fc.oneof(fc.constant(backend), value),
        exp: fc.oneof(fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }), value),
        jti: fc.oneof(
          fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 32, maxLength: 32 }),
          value,
        ),
        use: fc.oneof(fc.constant('probe'), value),
        ttl: fc.oneof(fc.integer({ min: -5, max: 4000 }), value),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(claims, (c) => {
        const wellTyped =
          typeof c.sub === 'string' &&
          Number.isSafeInteger(c.exp) &&
          typeof c.jti === 'string' &&
          (c.use === undefined || c.use === 'probe') &&
          (c.ttl === undefined ||
            (c.use === 'probe' &&
              Number.isSafeInteger(c.ttl) &&
              (c.ttl as number) >= 1 &&
              (c.ttl as number) <= 3600));
        const expected = !wellTyped
          ? 'ERR_JOIN_TOKEN_INVALID'
          : (c.exp as number) * 1000 <= NOW.getTime()
            ? 'ERR_JOIN_TOKEN_EXPIRED'
            : 'accepted';
        expect(verdict(signClaims(c))).toBe(expected);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});

interface Answer {
  status: number;
  reason: string;
  svid?: { certificatePem: string; spiffeId: string };
}

/** POSTs raw bytes to the join listener, authenticating it by the bundle as a workload does. */
function post(body: Uint8Array, contentType = 'application/proto'): Promise<Answer> {
  const colon = ca.ready.join.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: ca.ready.join.slice(0, colon),
        port: Number(ca.ready.join.slice(colon + 1)),
        method: 'POST',
        path: JOIN_PATH,
        ca: ca.core.bundle().pems.join('\n'),
        servername: 'ca.join.invalid',
        checkServerIdentity: () => undefined,
        headers: { 'content-type': contentType, 'content-length': body.length },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks);
          if (res.statusCode === 200) {
            const svid = fromBinary(JoinResponseSchema, text).svid;
            resolve({ status: 200, reason: 'issued', ...(svid ? { svid } : {}) });
            return;
          }
          let reason = text.toString('utf8');
          try {
            reason = (JSON.parse(reason) as { message: string }).message;
          } catch {
            // Not a Connect error body (415 is plain text).
          }
          resolve({ status: res.statusCode ?? 0, reason });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const joinRequest = (joinToken: string, csrPem: string) =>
  toBinary(JoinRequestSchema, create(JoinRequestSchema, { joinToken, csrPem }));

describe('the join listener', () => {
  const REFUSALS = [
    { status: 400, reason: 'malformed_request' },
    { status: 401, reason: 'join_token_invalid' },
  ];

  it('answers arbitrary bytes with a documented refusal, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        expect(REFUSALS).toContainEqual(await post(bytes));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('answers a well-formed request with an arbitrary token join_token_invalid', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (token) => {
        expect(await post(joinRequest(token, 'x'))).toEqual({ status: 401, reason: 'join_token_invalid' });
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('refuses a genuine token with any CSR that is not a P-256 request for its ID, and does not spend it', async () => {
    const { token, claims } = mintJoinToken(masterKey, { spiffeId: backend });
    const keyPair = await generateKeyPair();
    const genuineCsr = await createCsr({ spiffeId: backend, keyPair });
    const otherId = await createCsr({ spiffeId: spiffeIdFor('egress'), keyPair });
    const csrText = fc.oneof(
      fc.string({ maxLength: 300 }),
      // The genuine CSR with one base64 character of its body changed.
      fc
        .nat({ max: 400 })
        .map((at) => {
          const lines = genuineCsr.split('\n');
          const body = lines.slice(1, -2).join('');
          const i = at % body.length;
          const swapped = body.slice(0, i) + (body[i] === 'A' ? 'B' : 'A') + body.slice(i + 1);
          return `${lines[0]}\n${swapped}\n${lines.at(-2)}\n`;
        }),
    );
    await fc.assert(
      fc.asyncProperty(csrText, async (csrPem) => {
        const answer = await post(joinRequest(token, csrPem));
        expect([
          { status: 400, reason: 'csr_invalid' },
          { status: 403, reason: 'join_token_identity' },
        ]).toContainEqual(answer);
      }),
      { seed: SEED, numRuns: 40 },
    );
    expect(await post(joinRequest(token, otherId))).toEqual({ status: 403, reason: 'join_token_identity' });
    const rsaKey = join(root, 'rsa.key');
    writeFileSync(
      rsaKey,
      execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
    );
    const rsaCsr = execFileSync(
      'openssl',
      ['req', '-new', '-key', rsaKey, '-subj', '/CN=backend', '-addext', `subjectAltName=URI:${backend}`],
      { encoding: 'utf8' },
    );
    expect(await post(joinRequest(token, rsaCsr))).toEqual({ status: 400, reason: 'csr_invalid' });
    // None of the refusals spent the token: the genuine request with it still joins, once.
    expect(ca.core.state.usedJoinTokens[claims.id]).toBeUndefined();
    const joined = await post(joinRequest(token, genuineCsr));
    expect({ status: joined.status, id: joined.svid?.spiffeId }).toEqual({ status: 200, id: backend });
    expect(await post(joinRequest(token, genuineCsr))).toEqual({ status: 401, reason: 'join_token_used' });
  });

  it('refuses a non-canonical spelling of a genuine token’s MAC', async () => {
    const keyPair = await generateKeyPair();
    const csrPem = await createCsr({ spiffeId: backend, keyPair });
    const { token } = mintJoinToken(masterKey, { spiffeId: backend });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token.at(-1) as string;
    // The last of 43 characters carries 4 bits of the MAC and 2 padding bits: flipping a padding bit
    // decodes to the same 32 bytes.
    const sameBytes = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    for (const spelled of [sameBytes, `${token}=`, `${token.slice(0, -5)}!${token.slice(-5)}`]) {
      expect(Buffer.from(spelled.split('.')[2] as string, 'base64url')).toEqual(
        Buffer.from(token.split('.')[2] as string, 'base64url'),
      );
      expect(await post(joinRequest(spelled, csrPem))).toEqual({ status: 401, reason: 'join_token_invalid' });
    }
    expect((await post(joinRequest(token, csrPem))).status).toBe(200);
  });

  it('lets the minter of a probe token shorten the probe SVID, and only a probe token', async () => {
    const keyPair = await generateKeyPair();
    const { token } = mintJoinToken(masterKey, { spiffeId: backend, probe: true, svidTtlSeconds: 2 });
    const before = Date.now();
    const answer = await post(joinRequest(token, await createCsr({ spiffeId: backend, keyPair })));
    const cert = new X509Certificate(answer.svid?.certificatePem ?? '');
    expect(cert.validToDate.getTime()).toBeLessThanOrEqual(before + 3000);
    expect(cert.validToDate.getTime()).toBeGreaterThan(before);
    expect(() => mintJoinToken(masterKey, { spiffeId: backend, svidTtlSeconds: 2 })).toThrow(TypeError);
    expect(() => mintJoinToken(masterKey, { spiffeId: backend, probe: true, svidTtlSeconds: 3601 })).toThrow(
      TypeError,
    );
    // The same claim in a token that is not a probe token is refused at the door.
    const forged = signClaims({
      sub: backend,
      exp: Math.floor(Date.now() / 1000) + 60,
      jti: 'f'.repeat(32),
      ttl: 2,
    });
    expect(await post(joinRequest(forged, 'x'))).toEqual({ status: 401, reason: 'join_token_invalid' });
  });
});
