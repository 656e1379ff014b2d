// One gRPC call (EgressService.Dispatch) three ways, in one run, on loopback:
//   plaintext (raw grpc-js, no TLS) · mTLS (@zenmesh/rpc, HMAC off) · mTLS + HMAC-SHA256 + Redis nonce (the mesh).
// Sequential calls give the latency (p50/p99); 16 in flight give the throughput. Bounded: fixed call counts.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createMessageKeyring, createMessageSigner, createRedisNonceStore } from '@zenmesh/crypto';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { DispatchRequestSchema, DispatchResponseSchema, EgressService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer } from '@zenmesh/rpc';
import { Redis } from 'ioredis';
import { percentile, progress, writeSection } from './lib/report.mjs';

// grpc-js is a dependency of @zenmesh/rpc; the plaintext baseline uses it directly, exactly as rpc does.
const grpc = createRequire(new URL('../packages/rpc/package.json', import.meta.url))('@grpc/grpc-js');

const TD = 'zenmesh.local';
const NS = 'zenmesh';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `zmbench:rpc:${randomBytes(6).toString('hex')}:`;
const WARMUP = 500;
const CALLS = 2000;
const ROUNDS = 2;
const CONCURRENCY = 16;
const PATH = '/zenmesh.v1.EgressService/Dispatch';

const silent = {};
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'flush']) silent[m] = () => {};
silent.child = () => silent;

const loadAtStart = loadavg()[0];
const ca = await createCertificateAuthority({ trustDomain: TD });
const identityFor = async (service) => {
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor(service, { trustDomain: TD, namespace: NS }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
};
const egressId = await identityFor('egress');
const ingesterId = await identityFor('ingester');
const request = { eventId: `evt_${'a'.repeat(26)}` };
const impl = { dispatch: async (req) => ({ accepted: req.eventId.startsWith('evt_') }) };

// 1. Plaintext baseline.
const plainServer = new grpc.Server();
plainServer.addService(
  {
    dispatch: {
      path: PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (b) => b,
      requestDeserialize: (b) => b,
      responseSerialize: (b) => b,
      responseDeserialize: (b) => b,
    },
  },
  {
    dispatch: (call, cb) => {
      void impl
        .dispatch(fromBinary(DispatchRequestSchema, call.request))
        .then((r) =>
          cb(null, Buffer.from(toBinary(DispatchResponseSchema, create(DispatchResponseSchema, r)))),
        );
    },
  },
);
const plainPort = await new Promise((resolve, reject) =>
  plainServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
    e ? reject(e) : resolve(p),
  ),
);
const plainClient = new grpc.Client(`127.0.0.1:${plainPort}`, grpc.credentials.createInsecure());
const plainCall = () =>
  new Promise((resolve, reject) =>
    plainClient.makeUnaryRequest(
      PATH,
      (b) => b,
      (b) => b,
      Buffer.from(toBinary(DispatchRequestSchema, create(DispatchRequestSchema, request))),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, reply) => (err ? reject(err) : resolve(fromBinary(DispatchResponseSchema, reply))),
    ),
  );

// 2. and 3. Through @zenmesh/rpc.
const masterKey = randomBytes(32);
const keyring = createMessageKeyring({ masterKey, cluster: TD });
const serverNonces = createRedisNonceStore({ url: REDIS_URL, prefix: PREFIX });
if (!(await serverNonces.waitUntilReady(5000))) throw new Error(`Redis not reachable at ${REDIS_URL}`);
const meshModes = {};
for (const [name, integrity] of [
  ['mtls', false],
  ['hmac', { signer: createMessageSigner({ keyring }), nonces: serverNonces }],
]) {
  const server = createMeshServer({
    service: 'egress',
    identity: egressId,
    trustDomain: TD,
    namespace: NS,
    logger: silent,
    integrity,
  });
  server.register(EgressService, impl);
  const { address } = await server.listen('127.0.0.1:0');
  const channel = createMeshChannel({
    address,
    identity: ingesterId,
    peer: 'egress',
    trustDomain: TD,
    namespace: NS,
    integrity,
  });
  const client = channel.client(EgressService);
  meshModes[name] = { server, channel, call: () => client.dispatch(request) };
}

const modes = [
  { key: 'plain', label: 'plaintext gRPC (no TLS)', call: plainCall },
  { key: 'mtls', label: 'mTLS (SPIFFE ID + policy)', call: meshModes.mtls.call },
  { key: 'hmac', label: 'mTLS + HMAC-SHA256 + Redis nonce', call: meshModes.hmac.call },
];

async function run(call, calls, concurrency) {
  const latencies = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++;
        const t = process.hrtime.bigint();
        await call();
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { latencies, rate: calls / seconds };
}

const results = Object.fromEntries(modes.map((m) => [m.key, { seq: [], seqRate: [], conRate: [], con: [] }]));
for (const m of modes) await run(m.call, WARMUP, 4);
// Interleaved rounds, so drift (CPU frequency, GC, Redis) touches every mode alike.
for (let round = 1; round <= ROUNDS; round++) {
  for (const m of modes) {
    progress(`round ${round}/${ROUNDS}: ${m.label}`);
    const seq = await run(m.call, CALLS, 1);
    const con = await run(m.call, CALLS, CONCURRENCY);
    results[m.key].seq.push(...seq.latencies);
    results[m.key].seqRate.push(seq.rate);
    results[m.key].con.push(...con.latencies);
    results[m.key].conRate.push(con.rate);
  }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = modes.map((m) => {
  const r = results[m.key];
  return {
    label: m.label,
    key: m.key,
    seqRate: mean(r.seqRate),
    p50: percentile(r.seq, 50),
    p99: percentile(r.seq, 99),
    conRate: mean(r.conRate),
    cp50: percentile(r.con, 50),
    cp99: percentile(r.con, 99),
  };
});
const base = rows[0];
const mtls = rows[1];
const f = (n, d = 0) => n.toFixed(d);
const table = [
  '| mode | calls/s (1 in flight) | p50 ms | p99 ms | calls/s (16 in flight) | p50 ms | p99 ms | p50 vs plaintext | p50 vs mTLS | throughput vs plaintext (16) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.label} | ${f(r.seqRate)} | ${f(r.p50, 3)} | ${f(r.p99, 3)} | ${f(r.conRate)} | ${f(r.cp50, 3)} | ${f(r.cp99, 3)} | ${f(r.p50 / base.p50, 2)}× | ${f(r.p50 / mtls.p50, 2)}× | ${f(r.conRate / base.conRate, 2)}× |`,
  ),
].join('\n');
const hmac = rows[2];
writeSection(
  'rpc',
  'One internal gRPC call: plaintext vs mTLS vs mTLS + HMAC + Redis nonce',
  `\`bench/rpc.bench.mjs\`: \`EgressService.Dispatch\` (a 31-byte request) on loopback; server and client in one Node
process; Redis at ${new URL(REDIS_URL).host}. ${ROUNDS} interleaved rounds of ${CALLS} calls per mode, sequential then
${CONCURRENCY} in flight, after ${WARMUP} warm-up calls. Connections are reused (one TLS handshake per channel). Load average at start
${loadAtStart.toFixed(1)} (other work shared the machine; compare ratios within this table, not across runs).

${table}

Per call, message integrity adds ${f(hmac.p50 - mtls.p50, 3)} ms at p50 over mTLS alone (signing, verifying, the
Redis \`SET NX PX\` round trip, and the response signature); mTLS + HMAC + Redis runs at
${f(hmac.conRate / mtls.conRate, 2)}× the throughput of mTLS alone with ${CONCURRENCY} calls in flight.`,
);
progress(table);

plainClient.close();
plainServer.forceShutdown();
for (const m of Object.values(meshModes)) {
  m.channel.close();
  await m.server.shutdown({ graceMs: 1000 });
}
await serverNonces.close();
const redis = new Redis(REDIS_URL);
let cursor = '0';
do {
  const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
  cursor = nextCursor;
  if (keys.length) await redis.del(...keys);
} while (cursor !== '0');
redis.disconnect();
