import { existsSync, readdirSync } from 'node:fs';
import { MASTER_KEY_FILE, readWorkloadKeysFile, WORKLOAD_KEYS_FILE } from '@zenmesh/crypto';
import { Code, probeCall, signatureMetadata } from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { paths } from '../home.js';
import type { ServiceName } from './launch-env.js';
import { type ProbeKit, signerFor } from './probe-kit.js';
import { FLOWS, flowName } from './security-flows.js';
import { describeProbeResult, prepareFlow } from './security-probe.js';
import { MASTER_KEY_HOLDERS, OWN_FILES } from './workload-secrets.js';

/** Live checks that each workload holds only its own pair keys (issue 12 defect 10). */
export const PAIR_KEY_CHECKS = ['unkeyed_caller', 'workload_secrets'] as const;
export type PairKeyCheck = (typeof PAIR_KEY_CHECKS)[number];

export interface PairKeyResult {
  check: PairKeyCheck;
  pass: boolean;
  expected: string;
  observed: string;
}

export interface PairKeyReport {
  ok: boolean;
  flow: string;
  results: PairKeyResult[];
}

/** A service account of our namespace that MESH_POLICY's `*` lets in but to which no workload has a key. */
const STRANGER = 'verify-stranger';

/**
 * 1. `unkeyed_caller`: on `bff → ca` (which any workload of the namespace may call), a probe SVID for
 *    `sa/verify-stranger` from the mesh's own CA, its request signed with the pair key derived from the master
 *    key — what a master-key holder could forge. The CA signs and verifies only with the keys it was given, so
 *    it must refuse `UNAUTHENTICATED no_pair_key`.
 * 2. `workload_secrets`: each service's directory holds its own keyring (for itself) and only its own files;
 *    none but the ca holds the master key.
 */
export async function probePairKeys(kit: ProbeKit, home: string): Promise<PairKeyReport> {
  const spec = FLOWS.find((f) => f.client === 'bff' && f.server === 'ca');
  if (!spec) throw new CliError('ERR_STATE', 'no bff → ca flow to probe');
  const f = prepareFlow(kit, spec);
  const stranger = await kit.mint(STRANGER);
  const metadata = signatureMetadata(
    signerFor(kit).signRequest({
      path: f.path,
      callerId: stranger.id,
      serverId: f.target.serverId,
      body: f.body,
    }),
  );
  const r = await probeCall({ ...f.target, client: stranger }, f.path, f.body, metadata);
  const results: PairKeyResult[] = [
    {
      check: 'unkeyed_caller',
      expected: 'UNAUTHENTICATED no_pair_key',
      observed: `sa/${STRANGER}: ${describeProbeResult(r)}`,
      pass: r.code === Code.UNAUTHENTICATED && r.details === 'no_pair_key',
    },
  ];
  const problems: string[] = [];
  const p = paths(home);
  for (const [service, own] of Object.entries(OWN_FILES) as [ServiceName, readonly string[]][]) {
    const dir = p.workload(service);
    const names = existsSync(dir) ? readdirSync(dir) : [];
    const keys = names.includes(WORKLOAD_KEYS_FILE) ? readWorkloadKeysFile(dir) : undefined;
    if (!keys?.workload.endsWith(`/sa/${service}`)) problems.push(`${service}: no keyring of its own`);
    const extra = names.filter((n) => n !== WORKLOAD_KEYS_FILE && !own.includes(n));
    if (extra.length > 0) problems.push(`${service}: also holds ${extra.join(', ')}`);
    if (names.includes(MASTER_KEY_FILE) !== (MASTER_KEY_HOLDERS[service] !== undefined))
      problems.push(`${service}: master.key ${names.includes(MASTER_KEY_FILE) ? 'present' : 'missing'}`);
  }
  results.push({
    check: 'workload_secrets',
    expected: 'each service its own keyring and files; master.key in the ca alone',
    observed: problems.length === 0 ? 'each service holds only its own files' : problems.join('; '),
    pass: problems.length === 0,
  });
  return { ok: results.every((x) => x.pass), flow: flowName(spec), results };
}
