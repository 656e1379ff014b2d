import { describe, expect, it } from 'vitest';
import { MESH_POLICY, MESH_SERVERS, policyPeers } from './policy.js';

describe('policyPeers: the pairs each workload is given keys for', () => {
  it('derives every workload’s peers from MESH_POLICY, both directions', () => {
    expect(policyPeers('egress')).toEqual(['backend', 'ca', 'ingester']);
    expect(policyPeers('ingester')).toEqual(['backend', 'ca', 'egress']);
    expect(policyPeers('bff')).toEqual(['backend', 'ca', 'token']);
    expect(policyPeers('backend')).toEqual(['bff', 'ca', 'egress', 'ingester', 'token']);
    expect(policyPeers('token')).toEqual(['backend', 'bff', 'ca']);
    // The CA serves every workload ('*'), the operator's CLI included.
    expect(policyPeers('ca')).toEqual(['backend', 'bff', 'cli', 'egress', 'ingester', 'token']);
    expect(policyPeers('cli')).toEqual(['ca']);
  });

  it('names a server for every signed path of the table, and refuses a path with none', () => {
    for (const path of Object.keys(MESH_POLICY).filter((p) => !p.startsWith('grpc.health.'))) {
      expect([path, Object.hasOwn(MESH_SERVERS, path.slice(0, path.indexOf('/')))]).toEqual([path, true]);
    }
    expect(() => policyPeers('bff', { 'zenmesh.v1.NewService/Do': ['bff'] })).toThrow(
      'policyPeers: no server is known for zenmesh.v1.NewService/Do',
    );
  });
});
