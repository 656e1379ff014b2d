import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaService, type Rotation, type StatusResponse } from '@zenmesh/proto';
import { createMeshChannel, createMessageIntegrity, isRpcError, type TlsIdentity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { CliError } from '../errors.js';
import { paths, readEndpoints } from '../home.js';
import type { Output } from '../output.js';
import type { RegisterCommands } from './context.js';

interface CaOptions {
  caAddr?: string;
  trustDomain: string;
  namespace: string;
}

const FINAL = new Set(['completed', 'rolled_back', 'failed']);
// google.protobuf.Timestamp → ISO text (this package does not depend on @bufbuild/protobuf itself).
const iso = (t: { seconds: bigint; nanos: number } | undefined) =>
  t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : '';

/**
 * The operator's mTLS identity (`sa/cli`): the SVID the launcher keeps current under `<home>/svids/cli/`, and
 * the bundle next to it (or the trust domain's bundle file).
 */
function cliIdentity(home: string): TlsIdentity {
  const dir = join(paths(home).svids, 'cli');
  const bundle = [join(dir, 'bundle.pem'), join(paths(home).ca, 'bundle.pem')].find((p) => existsSync(p));
  try {
    return {
      cert: readFileSync(join(dir, 'svid.pem'), 'utf8'),
      key: readFileSync(join(dir, 'svid-key.pem'), 'utf8'),
      ca: readFileSync(bundle ?? join(dir, 'bundle.pem'), 'utf8'),
    };
  } catch (err) {
    throw new CliError('ERR_STATE', `cannot read the CLI's SVID under ${dir}: is the mesh running?`, {
      cause: err,
    });
  }
}

async function withCa<T>(
  home: string,
  o: CaOptions,
  fn: (ca: ReturnType<typeof caClient>) => Promise<T>,
): Promise<T> {
  const address = o.caAddr ?? readEndpoints(home).grpc.ca;
  if (!address) throw new CliError('ERR_NOT_RUNNING', 'the running mesh has no CA address; pass --ca-addr');
  // Requests to the CA are signed like every mesh call (per-message HMAC, keys from the master key).
  const integrity = await createMessageIntegrity({
    secretsDir: paths(home).secrets,
    cluster: o.trustDomain,
    logger: createLogger('cli', { level: 'silent' }),
  }).catch((err: unknown) => {
    throw new CliError('ERR_STATE', `cannot read the mesh's keys under ${paths(home).secrets}`, {
      cause: err,
    });
  });
  const channel = createMeshChannel({
    address,
    identity: cliIdentity(home),
    peer: 'ca',
    trustDomain: o.trustDomain,
    namespace: o.namespace,
    timeoutMs: 10_000,
    integrity,
  });
  try {
    return await fn(caClient(channel));
  } catch (err) {
    if (isRpcError(err)) throw new CliError('ERR_API', `CA refused: ${err.reason}`, { cause: err });
    throw err;
  } finally {
    channel.close();
    await integrity.close();
  }
}
const caClient = (channel: ReturnType<typeof createMeshChannel>) => channel.client(CaService);

const rotationJson = (r: Rotation | undefined) =>
  r && {
    id: r.id,
    phase: r.phase,
    from: r.fromAuthority,
    to: r.toAuthority,
    canaries: r.canaries,
    startedAt: iso(r.startedAt),
    updatedAt: iso(r.updatedAt),
    error: r.error || undefined,
    history: r.history.map((h) => ({ at: iso(h.at), phase: h.phase, message: h.message })),
  };

const statusJson = (s: StatusResponse) => ({
  trustDomain: s.trustDomain,
  authorities: s.authorities.map((a) => ({
    id: a.id,
    state: a.state,
    fingerprint: a.fingerprint,
    subject: a.subject,
    notBefore: iso(a.notBefore),
    notAfter: iso(a.notAfter),
  })),
  bundle: { version: Number(s.bundleVersion), fingerprints: s.bundleFingerprints },
  workloads: s.workloads.map((w) => ({
    spiffeId: w.spiffeId,
    serial: w.serial,
    issuer: w.issuerId,
    notAfter: iso(w.notAfter),
    issuedAt: iso(w.issuedAt),
    bundleAcked: Number(w.bundleVersionAcked),
    address: w.servingAddress || undefined,
  })),
  rotation: rotationJson(s.rotation),
  revokedSerials: s.revokedSerials,
});

function printRotation(out: Output, r: NonNullable<ReturnType<typeof rotationJson>>): void {
  out.line(
    `Rotation ${r.id}: ${r.phase} (${r.from} → ${r.to || '…'}; canaries: ${r.canaries.join(', ') || 'none'})`,
  );
  if (r.error) out.line(`  reason: ${r.error}`);
  for (const h of r.history) out.line(`  ${h.at}  ${h.phase.padEnd(12)} ${h.message}`);
}

/** `zenmesh ca status|rotate|revoke`: the CA, over mutual TLS as `sa/cli`. */
export const registerCaCommands: RegisterCommands = (program, ctx, action) => {
  const ca = program
    .command('ca')
    .description('the certificate authority: status, rotation, revocation')
    .option('--ca-addr <host:port>', 'CA gRPC address (default: the running mesh)')
    .option('--trust-domain <name>', 'SPIFFE trust domain', 'zenmesh.local')
    .option('--namespace <name>', 'SPIFFE namespace', 'zenmesh');
  const caOpts = () => ca.opts<CaOptions>();

  ca.command('status')
    .description('CAs, the trust bundle, every workload SVID (serial, issuer, expiry), rotation state')
    .action(
      action(async () => {
        const { home, out } = ctx();
        const s = statusJson(await withCa(home, caOpts(), (c) => c.status({})));
        out.result(s, () => {
          out.line(
            `Trust domain ${s.trustDomain}; bundle v${s.bundle.version} (${s.bundle.fingerprints.length} CA)`,
          );
          out.table(
            s.authorities.map((a) => ({ ...a, fingerprint: a.fingerprint.slice(0, 16) })),
            ['id', 'state', 'notAfter', 'fingerprint'],
          );
          out.line();
          out.table(
            s.workloads.map((w) => ({ ...w, bundle: `v${w.bundleAcked}` })),
            ['spiffeId', 'serial', 'issuer', 'notAfter', 'bundle'],
          );
          if (s.revokedSerials) out.line(`${s.revokedSerials} revoked serial(s) still within their lifetime`);
          if (s.rotation) {
            out.line();
            printRotation(out, s.rotation);
          }
        });
        return 0;
      }),
    );

  ca.command('rotate')
    .description('rotate the CA: prepare, distribute, canary, probe, roll out, retire (or --abort)')
    .option('--canary <services>', 'comma-separated services re-issued first and probed over mTLS')
    .option('--abort', 'roll the running rotation back')
    .option('--no-wait', 'return once started instead of following it')
    .action(
      action(async (o: { canary?: string; abort?: boolean; wait: boolean }) => {
        const { home, out } = ctx();
        if (o.abort) {
          const r = rotationJson((await withCa(home, caOpts(), (c) => c.abortRotation({}))).rotation);
          if (!r) throw new CliError('ERR_API', 'the CA returned no rotation');
          out.result({ rotation: r }, () => printRotation(out, r));
          return r.phase === 'rolled_back' ? 0 : 1;
        }
        const canaries = (o.canary ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        let r = rotationJson((await withCa(home, caOpts(), (c) => c.rotate({ canaries }))).rotation);
        if (!r) throw new CliError('ERR_API', 'the CA returned no rotation');
        out.progress(`Rotation ${r.id} started`);
        let shown = 0;
        while (o.wait && !FINAL.has(r.phase) && r.phase !== 'retiring') {
          await new Promise((resolve) => setTimeout(resolve, 500));
          const next = rotationJson((await withCa(home, caOpts(), (c) => c.status({}))).rotation);
          if (!next || next.id !== r.id) break;
          r = next;
          for (const h of r.history.slice(shown)) out.progress(`  ${h.phase.padEnd(12)} ${h.message}`);
          shown = r.history.length;
        }
        const final = r;
        out.result({ rotation: final }, () => printRotation(out, final));
        return final.phase === 'rolled_back' || final.phase === 'failed' ? 1 : 0;
      }),
    );

  ca.command('revoke <target>')
    .description('revoke one SVID serial, or every live SVID of a SPIFFE ID (spiffe://…)')
    .option('--reason <text>', 'recorded in the issuance log', 'revoked by operator')
    .action(
      action(async (target: string, o: { reason: string }) => {
        const { home, out } = ctx();
        const req = target.startsWith('spiffe://')
          ? { spiffeId: target, reason: o.reason }
          : { serial: target, reason: o.reason };
        const res = await withCa(home, caOpts(), (c) => c.revoke(req));
        out.result({ revoked: res.serials }, () =>
          out.line(`Revoked ${res.serials.join(', ')}; verifiers refuse them within seconds`),
        );
        return 0;
      }),
    );
};
