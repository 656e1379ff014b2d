import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { joinTrustDomain, mintJoinToken } from '@zenmesh/identity';
import { createCsr, generateKeyPair, spiffeIdFor } from '@zenmesh/pki';
import { Health, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';
import { createMeshChannel, createMessageIntegrity, type TlsIdentity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { CliError } from '../errors.js';
import { writeFileAtomic } from './files.js';
import { GRPC_SERVICES, type MeshService } from './mesh-services.js';
import { readSvidFiles } from './svid-dir.js';

export interface HealthResult {
  service: string;
  healthy: boolean;
  /** How it was checked, e.g. `gRPC health over mTLS at 127.0.0.1:7200 as spiffe://…/sa/backend`. */
  via: string;
  detail: string;
}

const TIMEOUT_MS = 4_000;

/** A listen address as a local client reaches it: the wildcard becomes loopback. */
export function localAddress(listen: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  if (m === null) throw new CliError('ERR_USAGE', `expected host:port, got ${JSON.stringify(listen)}`);
  const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : (m[1] as string);
  return `${host}:${m[2]}`;
}

const need = (env: NodeJS.ProcessEnv, name: string): string => {
  const v = env[name];
  if (v === undefined || v === '')
    throw new CliError('ERR_USAGE', `${name}: unset: the health check needs it`);
  return v;
};

/**
 * Checks one service from inside its own container or pod, with the same environment it runs with:
 * - token, backend, egress: grpc.health.v1 Check over mutual TLS + HMAC, as the service itself (the SVID its
 *   agent keeps in ZENMESH_SVID_DIR), and the server must prove the service's SPIFFE ID;
 * - ca: the same, with a short-lived probe SVID obtained through the join listener (a probe join token,
 *   minted with the master key the CA holds), so both listeners and issuance are exercised;
 * - ingester, bff (HTTP only): GET /healthz (the ingester's checks its gRPC peers over mTLS), and the
 *   service's own SVID must still be valid.
 */
export async function checkServiceHealth(
  service: MeshService,
  env: NodeJS.ProcessEnv,
): Promise<HealthResult> {
  try {
    return await check(service, env);
  } catch (err) {
    // A missing variable is a mistake in the deployment, said as such; anything else is simply unhealthy.
    if ((err as { code?: string }).code === 'ERR_USAGE') throw err;
    return { service, healthy: false, via: 'health check', detail: (err as Error).message };
  }
}

async function check(service: MeshService, env: NodeJS.ProcessEnv): Promise<HealthResult> {
  const trustDomain = env.ZENMESH_TRUST_DOMAIN || 'zenmesh.local';
  const namespace = env.ZENMESH_NAMESPACE || 'zenmesh';
  if (!GRPC_SERVICES.has(service)) return checkHttp(service, env);
  const address = localAddress(need(env, 'ZENMESH_GRPC_LISTEN'));
  const identity =
    service === 'ca'
      ? await probeIdentity(env, trustDomain, namespace)
      : ownIdentity(service, need(env, 'ZENMESH_SVID_DIR'));
  const logger = createLogger(`health-${service}`, { level: 'silent' });
  const integrity = await createMessageIntegrity({
    secretsDir: need(env, 'ZENMESH_SECRETS_DIR'),
    cluster: trustDomain,
    logger,
  });
  const channel = createMeshChannel({
    address,
    identity,
    peer: service,
    trustDomain,
    namespace,
    integrity,
    timeoutMs: TIMEOUT_MS,
  });
  const via = `gRPC health over mTLS at ${address}`;
  try {
    const res = await channel.client(Health).check({ service: '' });
    const status = HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
    return {
      service,
      healthy: res.status === HealthCheckResponse_ServingStatus.SERVING,
      via,
      detail: `${spiffeIdFor(service, { trustDomain, namespace })} answered ${status}`,
    };
  } catch (err) {
    return { service, healthy: false, via, detail: (err as Error).message };
  } finally {
    channel.close();
    await integrity.close();
  }
}

function ownIdentity(service: string, svidDir: string): TlsIdentity {
  const identity = readSvidFiles(svidDir);
  if (!identity) {
    throw new CliError('ERR_UNHEALTHY', `${service}: no SVID in ${svidDir} yet (the service has not joined)`);
  }
  return identity;
}

/**
 * The CA has no SVID on disk (it issues its own in memory), so its check joins as `sa/health` with a probe
 * token: a short-lived SVID the CA does not track as a workload and never renews. Kept in the container's own
 * temporary directory and reused while it has a minute left, so a check every few seconds does not mean an
 * issuance (and an audit line) every few seconds.
 */
async function probeIdentity(
  env: NodeJS.ProcessEnv,
  trustDomain: string,
  namespace: string,
): Promise<TlsIdentity> {
  const dir = join(tmpdir(), 'zenmesh-health-ca');
  const files = {
    cert: join(dir, 'svid.pem'),
    key: join(dir, 'svid-key.pem'),
    bundle: join(dir, 'bundle.pem'),
  };
  const bundlePem = readFileSync(need(env, 'ZENMESH_CA_BUNDLE_FILE'), 'utf8');
  const cached = (() => {
    try {
      const id = {
        cert: readFileSync(files.cert, 'utf8'),
        key: readFileSync(files.key, 'utf8'),
        ca: readFileSync(files.bundle, 'utf8'),
      };
      // Only while the CA's bundle is the one it was issued under (a rotation rewrites the file).
      const fresh = new Date(new X509Certificate(id.cert).validTo).getTime() - Date.now() > 60_000;
      return fresh && id.ca === bundlePem ? id : undefined;
    } catch {
      return undefined;
    }
  })();
  if (cached) return cached;
  const masterKey = loadMasterKey(need(env, 'ZENMESH_SECRETS_DIR'));
  const spiffeId = spiffeIdFor('health', { trustDomain, namespace });
  const keyPair = await generateKeyPair();
  const svid = await joinTrustDomain({
    joinAddress: localAddress(need(env, 'ZENMESH_CA_JOIN_LISTEN')),
    joinToken: mintJoinToken(masterKey, { spiffeId, probe: true, ttlSeconds: 60 }).token,
    csrPem: await createCsr({ spiffeId, keyPair }),
    bundlePem,
    caSpiffeId: spiffeIdFor('ca', { trustDomain, namespace }),
    timeoutMs: TIMEOUT_MS,
  });
  // The bundle this check trusts is the one it was given, not whatever the join answered.
  const identity = { cert: svid.certificatePem, key: keyPair.privateKeyPem, ca: bundlePem };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(files.key, identity.key);
  writeFileAtomic(files.cert, identity.cert, undefined, 0o644);
  writeFileAtomic(files.bundle, identity.ca, undefined, 0o644);
  return identity;
}

async function checkHttp(service: MeshService, env: NodeJS.ProcessEnv): Promise<HealthResult> {
  const address = localAddress(need(env, 'ZENMESH_HTTP_LISTEN'));
  const via = `GET http://${address}/healthz`;
  const svidDir = env.ZENMESH_SVID_DIR;
  if (svidDir) {
    const own = readSvidFiles(svidDir);
    if (!own) return { service, healthy: false, via, detail: `no SVID in ${svidDir} yet` };
    const notAfter = new Date(new X509Certificate(own.cert).validTo);
    if (notAfter.getTime() <= Date.now()) {
      return { service, healthy: false, via, detail: `its SVID expired at ${notAfter.toISOString()}` };
    }
  }
  try {
    const res = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    const body = await res.text();
    return { service, healthy: res.status === 200, via, detail: `${res.status} ${body.slice(0, 200)}` };
  } catch (err) {
    return { service, healthy: false, via, detail: (err as Error).message };
  }
}
