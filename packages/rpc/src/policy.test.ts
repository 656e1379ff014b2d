import { describe, expect, it } from 'vitest';
import { authorize, MESH_POLICY } from './policy.js';

const own = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
const peer = (service: string, namespace = 'zenmesh', trustDomain = 'zenmesh.local') => ({
  spiffeId: `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`,
  trustDomain,
  namespace,
  service,
});
const decide = (method: string, service: string, namespace?: string) =>
  authorize(MESH_POLICY, `zenmesh.v1.CaService/${method}`, peer(service, namespace), own);
const DENIED = { allowed: false, reason: 'spiffe_id_not_allowed' };

describe('MESH_POLICY: the CA administration (the console’s certificates page)', () => {
  it('lets the CLI and the bff read the CA, start and abort a rotation', () => {
    for (const method of ['Status', 'Rotate', 'AbortRotation'])
      for (const service of ['cli', 'bff']) expect(decide(method, service)).toEqual({ allowed: true });
  });

  it('keeps revocation the CLI’s alone', () => {
    expect(decide('Revoke', 'cli')).toEqual({ allowed: true });
    expect(decide('Revoke', 'bff')).toEqual(DENIED);
  });

  it('refuses every other workload, and the bff of another namespace or trust domain', () => {
    for (const method of ['Status', 'Rotate', 'AbortRotation', 'Revoke'])
      for (const service of ['ingester', 'egress', 'backend', 'token', 'ca'])
        expect(decide(method, service)).toEqual(DENIED);
    expect(decide('Rotate', 'bff', 'intruder')).toEqual(DENIED);
    expect(
      authorize(MESH_POLICY, 'zenmesh.v1.CaService/Rotate', peer('bff', 'zenmesh', 'attacker.example'), own),
    ).toEqual({ allowed: false, reason: 'foreign_trust_domain' });
  });

  it('names the bff on no other CaService method than status, rotation and the ones open to all', () => {
    const bffCa = Object.entries(MESH_POLICY)
      .filter(([path, who]) => path.startsWith('zenmesh.v1.CaService/') && who.includes('bff'))
      .map(([path]) => path);
    expect(bffCa.sort()).toEqual([
      'zenmesh.v1.CaService/AbortRotation',
      'zenmesh.v1.CaService/Rotate',
      'zenmesh.v1.CaService/Status',
    ]);
  });
});
