// `node bench/profile-summary.mjs DIR [--top N]`: reads the .cpuprofile files that `--cpu-prof` wrote into DIR
// (one per process; see docs/performance.md), names each by the service whose code it ran, and prints where
// its CPU went: the share of busy time by category (TLS, protobuf, HMAC/crypto, pino, pg, grpc-js, undici,
// JSON, GC, our code, other) and the top self-time frames. Not a benchmark: it writes nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const topN = Number(process.argv[process.argv.indexOf('--top') + 1] || 12);
if (!dir) {
  console.error('usage: node bench/profile-summary.mjs DIR [--top N]');
  process.exit(2);
}

// First match wins: a frame is charged to the category of its own function and file.
const CATEGORIES = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)' || f.functionName === '(program)'],
  ['TLS', (f) => /node:(internal\/)?(_tls|tls)|TLSWrap/.test(f.url + f.functionName)],
  // Native stream writes (TLS, HTTP/2 and HTTP sockets) show no file of their own.
  [
    'socket writes (native)',
    (f) => f.url === '' && /^write(v|Buffer|Utf8String|Latin1String)$/.test(f.functionName),
  ],
  [
    'HMAC/crypto',
    (f) =>
      /node:(internal\/)?crypto|createHmac|Hmac|hkdf|timingSafeEqual|randomBytes/.test(
        f.url + f.functionName,
      ),
  ],
  ['protobuf', (f) => /@bufbuild\/protobuf|packages\/proto\//.test(f.url)],
  ['pino/logging', (f) => /pino|sonic-boom|fast-redact|thread-stream/.test(f.url)],
  ['pg', (f) => /node_modules\/.*\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+)\//.test(f.url)],
  ['grpc-js / http2', (f) => /@grpc\/grpc-js|node:(internal\/)?http2/.test(f.url)],
  ['undici / http', (f) => /undici|node:(_http|http)|llhttp/.test(f.url + f.functionName)],
  ['ioredis', (f) => /ioredis|redis-parser|denque/.test(f.url)],
  ['opentelemetry', (f) => /@opentelemetry/.test(f.url)],
  ['JSON', (f) => /^JSON\.|^(parse|stringify)$/.test(f.functionName) && f.url === ''],
  [
    'our code',
    (f) => /\/(services|packages)\/[a-z-]+\/(dist|src)\//.test(f.url) && !f.url.includes('node_modules'),
  ],
  ['node internals', (f) => f.url.startsWith('node:')],
  ['other', () => true],
];

function summarise(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0));
  }
  const service = {};
  const cats = new Map();
  const frames = new Map();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id).callFrame;
    const m = /\/services\/([a-z]+)\//.exec(f.url);
    if (m) service[m[1]] = (service[m[1]] ?? 0) + 1;
    const cat = CATEGORIES.find(([, test]) => test(f))[0];
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    if (cat === 'idle') continue;
    busy += us;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\/(\.pnpm\/)?/, '').replace(/^file:\/\/.*?\/(services|packages)\//, '$1/')}:${f.lineNumber + 1}`;
    frames.set(key, (frames.get(key) ?? 0) + us);
  }
  const name = Object.entries(service).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'launcher/cli';
  return { name, busy, wall: profile.endTime - profile.startTime, cats, frames };
}

const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
for (const s of files.map((f) => summarise(join(dir, f))).sort((a, b) => b.busy - a.busy)) {
  const pct = (us) => `${((100 * us) / s.busy).toFixed(1)} %`;
  console.log(
    `\n## ${s.name}: busy ${(s.busy / 1e6).toFixed(1)} s of ${(s.wall / 1e6).toFixed(1)} s profiled`,
  );
  const cats = [...s.cats].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1]);
  console.log(cats.map(([c, us]) => `${c} ${pct(us)}`).join(' · '));
  for (const [frame, us] of [...s.frames].sort((a, b) => b[1] - a[1]).slice(0, topN)) {
    console.log(`  ${pct(us).padStart(7)}  ${frame}`);
  }
}
